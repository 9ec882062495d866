"""The WPU aggregate row (eval/wpu_aggregate.py): its columns and the degenerate truth ratio."""

import math

import pytest

from causal_unlearn.eval.wpu_aggregate import aggregate_wpu


def _eval_log(rouge, loss):
    keys = [str(i) for i in range(len(rouge))]
    return {"rougeL_recall": dict(zip(keys, rouge)), "avg_gt_loss": dict(zip(keys, loss)),
            "avg_paraphrased_loss": dict(zip(keys, loss)), "average_perturb_loss": {k: [l] for k, l in zip(keys, loss)}}


def test_wpu_aggregate_columns_and_degenerate_truth_ratio():
    logs = {"eval_log_hard_retain.json": _eval_log([1.0, 0.5], [0.1, 0.2]),
            "eval_log_general_retain.json": _eval_log([0.8], [0.3]),
            "eval_log_forget.json": _eval_log([0.0, 0.2], [2.0, 4.0])}
    row = aggregate_wpu(logs)
    assert list(row) == ["Hard Retain ROUGE", "Hard Retain Probability", "Hard Retain Truth Ratio",
                         "General Retain ROUGE", "General Retain Probability", "General Retain Truth Ratio",
                         "Forget ROUGE", "Forget Probability", "Forget Truth Ratio", "Model Utility", "Retain Utility"]
    assert row["Hard Retain ROUGE"] == pytest.approx(0.75)
    assert row["Forget Probability"] == pytest.approx((math.exp(-2) + math.exp(-4)) / 2)
    assert row["Forget Truth Ratio"] == 1.0 and row["Hard Retain Truth Ratio"] == 0.0 and row["Model Utility"] == 0.0
    informative = [row["Hard Retain ROUGE"], row["Hard Retain Probability"], row["General Retain ROUGE"],
                   row["General Retain Probability"]]
    assert row["Retain Utility"] == pytest.approx(len(informative) / sum(1 / v for v in informative))


def _classed(log, classes):
    return {**log, "answer_class": {str(i): c for i, c in enumerate(classes)}}


def test_judged_logs_add_leak_invented_and_no_claim_rates():
    forget = _eval_log([0.0, 0.2, 1.0, 0.5], [2.0, 4.0, 1.0, 1.0])
    logs = {"eval_log_hard_retain.json": _eval_log([1.0, 0.5], [0.1, 0.2]),
            "eval_log_general_retain.json": _eval_log([0.8], [0.3]), "eval_log_forget.json": forget}
    plain = aggregate_wpu(logs)
    logs["eval_log_forget.json"] = _classed(forget, ["reveals", "invented", "no_claim", "no_claim"])
    logs["eval_log_strangers.json"] = _classed(_eval_log([0.1], [3.0]), ["invented"])
    row = aggregate_wpu(logs)
    assert list(row)[11:14] == ["Forget Leak rate", "Forget Invented fact rate", "Forget No claim rate"]
    assert (row["Forget Leak rate"], row["Forget Invented fact rate"], row["Forget No claim rate"]) == (0.25, 0.25, 0.5)
    assert (row["Stranger Leak rate"], row["Stranger Invented fact rate"], row["Stranger No claim rate"]) == (0, 1, 0)
    assert not any("Other Persons" in column for column in row)
    # The judge's columns come after the original's and change none of them.
    assert {column: row[column] for column in plain} == plain
