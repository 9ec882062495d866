"""WPU eval logs -> the one-row `aggregate_stat.csv` of the original, plus a comparison table.

Columns, in the original's order: for Hard Retain, General Retain and Forget: ROUGE (mean
ROUGE-L recall of the greedy answer against the gold answer), Probability (mean geometric-mean
token probability of the gold answer) and Truth Ratio; then Model Utility. On WPU the base and
perturbed answers are the same string, so Truth Ratio is 1 (forget) / 0 (retain) and Model
Utility is 0 for every model: those columns are kept only for compatibility. `Retain Utility`,
added after them, is the harmonic mean of the four informative retain values (Hard/General
Retain ROUGE and Probability). With `eval.other_persons_split` set, `Other Persons ROUGE` and
`Other Persons Probability` follow: the forget QA of persons who are neither targets nor in
any retain loss, which targeted unlearning should leave intact. With `eval.stranger_names`,
`Stranger ROUGE` and `Stranger Probability`: the forget QA with the targets' names swapped for
never-seen names (strangers.py), the score of a model that never knew the targets.

Where the eval logs hold the answer judge's classes (eval/answer_judge.py: worlds whose answers
are known), `Forget`, `Other Persons` and `Stranger` each gain `Leak rate`, `Invented fact rate`
and `No claim rate`; the Forget three follow `Retain Utility`, the others their task's columns.
"""

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import hmean

from causal_unlearn.core.errors import UserError
from causal_unlearn.core.files import atomic_write_csv
from causal_unlearn.eval.answer_judge import judge_columns
from causal_unlearn.eval.tables import AGGREGATE_FILE

TASK_NAMES = {
    "eval_log_hard_retain.json": "Hard Retain",
    "eval_log_general_retain.json": "General Retain",
    "eval_log_forget.json": "Forget",
}


def task_stats(log: dict, is_forget: bool) -> dict:
    """ROUGE, Probability and Truth Ratio of one task's eval log (the original's WPU formulas)."""
    rouge = float(np.mean(list(log["rougeL_recall"].values())))
    probability = float(np.mean([math.exp(-loss) for loss in log["avg_gt_loss"].values()]))
    ratios = []
    for key, para in log["avg_paraphrased_loss"].items():
        perturbed = log["average_perturb_loss"][key]
        ratios.append(np.mean([math.exp(-p) for p in perturbed]) / math.exp(-para))
    ratios = np.array(ratios)
    truth = np.minimum(ratios, 1 / ratios).mean() if is_forget else np.maximum(0, 1 - ratios).mean()
    return {"ROUGE": rouge, "Probability": probability, "Truth Ratio": float(truth)}


def _classes(log: dict) -> list[str] | None:
    return list(log["answer_class"].values()) if "answer_class" in log else None


def aggregate_wpu(aggregated: dict) -> dict:
    """One row: every task's stats under its display name, then Model Utility."""
    missing = [name for name in TASK_NAMES if name not in aggregated]
    if missing:
        raise UserError(f"eval_log_aggregated.json lacks {', '.join(missing)}; run evaluate_util.py with the WPU eval tasks.")
    row = {}
    for file_name, display in TASK_NAMES.items():
        for metric, value in task_stats(aggregated[file_name], display == "Forget").items():
            row[f"{display} {metric}"] = value
    retain_values = [value for key, value in row.items() if "Forget" not in key]
    row["Model Utility"] = float(hmean(retain_values)) if retain_values and min(retain_values) > 0 else 0.0
    # The meaningful counterpart: the same harmonic mean without the degenerate truth ratios.
    informative = [value for key, value in row.items() if "Forget" not in key and "Truth Ratio" not in key
                   and key != "Model Utility"]
    row["Retain Utility"] = float(hmean(informative)) if min(informative) > 0 else 0.0
    row.update(judge_columns("Forget", _classes(aggregated["eval_log_forget.json"])))
    other = aggregated.get("eval_log_other_persons.json")
    if other:  # eval.other_persons_split: non-targets that no retain loss saw
        stats = task_stats(other, is_forget=True)
        row["Other Persons ROUGE"], row["Other Persons Probability"] = stats["ROUGE"], stats["Probability"]
        row.update(judge_columns("Other Persons", _classes(other)))
    strangers = aggregated.get("eval_log_strangers.json")
    if strangers:  # eval.stranger_names: the forget QA asked about never-seen names
        stats = task_stats(strangers, is_forget=True)
        row["Stranger ROUGE"], row["Stranger Probability"] = stats["ROUGE"], stats["Probability"]
        row.update(judge_columns("Stranger", _classes(strangers)))
    return row


def write_aggregate(eval_dir: Path) -> dict:
    source = eval_dir / "eval_log_aggregated.json"
    if not source.is_file():
        raise UserError(f"{source} does not exist; run evaluate_util.py for this model first.")
    row = aggregate_wpu(json.loads(source.read_text()))
    atomic_write_csv(eval_dir / AGGREGATE_FILE, pd.DataFrame([row]))
    return row
