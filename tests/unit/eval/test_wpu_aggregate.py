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
