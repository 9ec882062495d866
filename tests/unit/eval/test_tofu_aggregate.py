"""TOFU metrics (eval/tofu_aggregate.py) on hand-computed cases, and the 18-column aggregate."""

import math

import pytest
from scipy.stats import hmean

from causal_unlearn.eval.tofu_aggregate import TASKS, aggregate_tofu, forget_quality, task_stats, truth_ratios

COLUMNS = ["ROUGE Real Authors", "Prob. Real Authors", "Truth Ratio Real Authors", "ROUGE Real World",
           "Prob. Real World", "Truth Ratio Real World", "ROUGE Retain", "Prob. Retain", "Truth Ratio Retain",
           "ROUGE Forget", "Prob. Forget", "Truth Ratio Forget", "ROUGE Forget Paraphrased",
           "Prob. Forget Paraphrased", "Truth Ratio Forget Paraphrased", "Model Utility", "Forget Quality",
           "Forget Quality Paraphrased"]


def log_of(para, perturbs, gt=None, rouge=None, normalized=None):
    keys = [str(i) for i in range(len(para))]
    log = {"avg_paraphrased_loss": dict(zip(keys, para)), "average_perturb_loss": dict(zip(keys, perturbs)),
           "avg_gt_loss": dict(zip(keys, gt or para)), "rougeL_recall": dict(zip(keys, rouge or [0.5] * len(para)))}
    if normalized is not None:
        log["normalized_gt_loss"] = dict(zip(keys, normalized))
    return log


def test_truth_ratio_is_paraphrased_over_geometric_mean_perturbed():
    log = log_of([1.0], [[2.0, 4.0]])
    # R = P_para / geomean(P_pert) = exp(-1) / exp(-(2+4)/2) = exp(2)
    assert truth_ratios(log)[0] == pytest.approx(math.exp(2))
    assert task_stats(log, "eval_log.json")["Truth Ratio"] == pytest.approx(1 - math.exp(-2))
    assert task_stats(log, "eval_log_forget.json")["Truth Ratio"] == pytest.approx(math.exp(-2))


def test_probability_is_normalised_for_real_authors_and_world_by_file_name_and_recomputed():
    # gold per-token loss 0.5, perturbed 1.0 and 2.0: p = e^-0.5 / (e^-0.5 + e^-1 + e^-2)
    share = math.exp(-0.5) / (math.exp(-0.5) + math.exp(-1.0) + math.exp(-2.0))
    for name in ("eval_real_author_wo_options.json", "eval_real_world_wo_options.json"):
        # a stored normalized_gt_loss that disagrees is not what decides: the losses are
        log = log_of([1.0], [[1.0, 2.0]], gt=[0.5], normalized=[math.log(4)])
        assert task_stats(log, name)["Prob."] == pytest.approx(share)
        assert task_stats(log_of([1.0], [[1.0, 2.0]], gt=[0.5]), name)["Prob."] == pytest.approx(share)
    assert task_stats(log_of([1.0], [[1.0, 2.0]], gt=[0.5]), "eval_log.json")["Prob."] == pytest.approx(math.exp(-0.5))


def test_forget_quality_is_a_ks_p_value():
    same = log_of([1.0, 2.0, 3.0], [[1.5], [2.5], [3.5]])
    assert forget_quality(same, same) == pytest.approx(1.0)
    far = log_of([0.0] * 10, [[5.0]] * 10)
    near = log_of([5.0] * 10, [[0.0]] * 10)
    assert forget_quality(far, near) < 1e-4


def test_aggregate_has_the_18_columns_and_harmonic_utility():
    logs = {name: log_of([1.0, 1.2], [[2.0], [2.2]], rouge=[0.4, 0.6]) for name in TASKS}
    row = aggregate_tofu(logs, logs)
    assert list(row) == COLUMNS
    nine = [v for k, v in row.items() if "Forget" not in k and k != "Model Utility"]
    assert len(nine) == 9 and row["Model Utility"] == pytest.approx(hmean(nine))
    assert math.isnan(aggregate_tofu(logs, None)["Forget Quality"])
