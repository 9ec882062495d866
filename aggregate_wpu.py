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

    python aggregate_wpu.py --eval-dir OUT/eval                       # writes OUT/eval/aggregate_stat.csv
    python aggregate_wpu.py --eval-dir D --summary S.csv --method base --split forget_2_1
"""

import argparse
import json
import logging
import math
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import hmean

from utils import UserError, atomic_write_csv, setup_logging

logger = logging.getLogger("aggregate_wpu")
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
    other = aggregated.get("eval_log_other_persons.json")
    if other:  # eval.other_persons_split: non-targets that no retain loss saw
        stats = task_stats(other, is_forget=True)
        row["Other Persons ROUGE"], row["Other Persons Probability"] = stats["ROUGE"], stats["Probability"]
    strangers = aggregated.get("eval_log_strangers.json")
    if strangers:  # eval.stranger_names: the forget QA asked about never-seen names
        stats = task_stats(strangers, is_forget=True)
        row["Stranger ROUGE"], row["Stranger Probability"] = stats["ROUGE"], stats["Probability"]
    return row


def write_aggregate(eval_dir: Path) -> dict:
    source = eval_dir / "eval_log_aggregated.json"
    if not source.is_file():
        raise UserError(f"{source} does not exist; run evaluate_util.py for this model first.")
    row = aggregate_wpu(json.loads(source.read_text()))
    atomic_write_csv(eval_dir / "aggregate_stat.csv", pd.DataFrame([row]))
    return row


def read_aggregate(eval_dir: Path) -> dict:
    path = Path(eval_dir) / "aggregate_stat.csv"
    if not path.is_file():
        raise UserError(f"{path} does not exist; evaluate this model first.")
    return pd.read_csv(path).iloc[0].to_dict()


def add_columns(eval_dir: Path, columns: dict) -> None:
    """Set columns of eval_dir's one-row aggregate_stat.csv (attacks and the judge add theirs)."""
    path = Path(eval_dir) / "aggregate_stat.csv"
    table = pd.read_csv(path) if path.is_file() else pd.DataFrame([{}])
    for column, value in columns.items():
        table[column] = value
    atomic_write_csv(path, table)


def upsert_summary(summary_csv: Path, method: str, split: str, row: dict) -> pd.DataFrame:
    """Add (or replace) the (method, split) row of a comparison table shared across runs."""
    import fcntl

    summary_csv = Path(summary_csv)
    summary_csv.parent.mkdir(parents=True, exist_ok=True)
    new = pd.DataFrame([{"method": method, "split": split, **row}])
    # Pipelines may run side by side (scripts/demo.sh): serialise the read-modify-write.
    with open(summary_csv.with_name(f".{summary_csv.name}.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if summary_csv.is_file():
            old = pd.read_csv(summary_csv)
            old = old[~((old["method"] == method) & (old["split"] == split))]
            new = pd.concat([old, new], ignore_index=True)
        atomic_write_csv(summary_csv, new)
    return new


def main() -> None:
    setup_logging()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--eval-dir", required=True, type=Path, help="folder holding eval_log_aggregated.json")
    parser.add_argument("--summary", type=Path, help="comparison CSV to add this model's row to")
    parser.add_argument("--method", help="row label in the summary (e.g. base, implanted)")
    parser.add_argument("--split", help="forget split the row belongs to")
    parser.add_argument("--as-is", action="store_true",
                        help="take the row from eval-dir/aggregate_stat.csv as it is (with the attack and judge "
                             "columns) instead of recomputing it from the eval logs")
    args = parser.parse_args()
    try:
        row = read_aggregate(args.eval_dir) if args.as_is else write_aggregate(args.eval_dir)
        if args.summary:
            if not (args.method and args.split):
                raise UserError("--summary needs --method and --split to label the row.")
            upsert_summary(args.summary, args.method, args.split, row)
    except UserError as err:
        raise SystemExit(f"error: {err}")
    logger.info("%s", ", ".join(f"{key}={value:.3f}" for key, value in row.items() if isinstance(value, float)))


if __name__ == "__main__":
    main()
