"""TOFU eval logs -> the one-row `aggregate_stat.csv` with TOFU's 18 columns.

Per task (Real Authors, Real World, Retain, Forget, Forget Paraphrased): ROUGE (mean ROUGE-L
recall), Prob. (mean gold-answer probability; for real authors / world facts its share among the
perturbed options) and Truth Ratio (TOFU's definition). Model Utility is the harmonic mean of the
nine non-forget values. Forget Quality is the Kolmogorov-Smirnov p-value between the forget
truth ratios of this model and of a retain model (one never trained on the forget set): high
means the model is indistinguishable from one that never saw the data. The retain model's log
comes from evaluating a model fine-tuned on the retain split (finetune.py + evaluate_util.py);
without it the two Forget Quality columns stay empty.
"""

import math

import numpy as np
from scipy.stats import hmean, ks_2samp

from causal_unlearn.core.errors import UserError

TASKS = {  # file -> display name, in the CSV's order
    "eval_real_author_wo_options.json": "Real Authors",
    "eval_real_world_wo_options.json": "Real World",
    "eval_log.json": "Retain",
    "eval_log_forget.json": "Forget",
    "eval_log_forget_paraphrased.json": "Forget Paraphrased",
}


def truth_ratios(log: dict) -> np.ndarray:
    """R = P_paraphrased / geometric-mean P_perturbed, per item (per-token probabilities)."""
    return np.array([math.exp(np.mean(log["average_perturb_loss"][key]) - para)
                     for key, para in log["avg_paraphrased_loss"].items()])


# TOFU scores these tasks' probability as the gold answer's share among it and its perturbed
# options (decided by the file, as the original does, not by what a log happens to hold).
NORMALISED_PROBABILITY = ("eval_real_author_wo_options.json", "eval_real_world_wo_options.json")


def gold_probability(log: dict, file_name: str) -> float:
    """Mean per-token probability of the gold answer; for NORMALISED_PROBABILITY tasks its share
    p_gold / (p_gold + sum of the perturbed answers' p), recomputed from the losses."""
    keys = list(log["avg_gt_loss"])
    gold = np.exp(-np.array([log["avg_gt_loss"][key] for key in keys]))
    if file_name not in NORMALISED_PROBABILITY:
        return float(gold.mean())
    options = np.array([np.exp(-np.asarray(log["average_perturb_loss"][key], dtype=float)).sum() for key in keys])
    return float(np.mean(gold / (gold + options)))


def task_stats(log: dict, file_name: str) -> dict:
    probability = gold_probability(log, file_name)
    ratios = truth_ratios(log)
    if "forget" in file_name:
        truth = np.minimum(ratios, 1 / ratios).mean()
    else:
        truth = np.maximum(0, 1 - 1 / ratios).mean()
    return {"ROUGE": float(np.mean(list(log["rougeL_recall"].values()))), "Prob.": probability, "Truth Ratio": float(truth)}


def forget_quality(log: dict, retain_log: dict) -> float:
    """KS-test p-value between the two models' forget truth ratios (rank-based: R or 1/R alike)."""
    return float(ks_2samp(truth_ratios(log), truth_ratios(retain_log)).pvalue)


def aggregate_tofu(ckpt: dict, retain: dict | None) -> dict:
    missing = [name for name in TASKS if name not in ckpt]
    if missing:
        raise UserError(f"The eval log lacks {', '.join(missing)}; evaluate with config/eval_everything.yaml.")
    row = {}
    for file_name, display in TASKS.items():
        for metric, value in task_stats(ckpt[file_name], file_name).items():
            row[f"{metric} {display}"] = value
    utility_values = [value for key, value in row.items() if "Forget" not in key]
    row["Model Utility"] = float(hmean(utility_values)) if min(utility_values) > 0 else 0.0
    for file_name, column in (("eval_log_forget.json", "Forget Quality"),
                              ("eval_log_forget_paraphrased.json", "Forget Quality Paraphrased")):
        row[column] = forget_quality(ckpt[file_name], retain[file_name]) if retain and file_name in retain else float("nan")
    return row
