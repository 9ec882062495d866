"""The tables results land in: a run's one-row aggregate_stat.csv, to which the attacks and the
judge add their columns, and a comparison table with one row per (method, split) shared by runs."""

import fcntl
from pathlib import Path

import pandas as pd

from causal_unlearn.core.errors import UserError
from causal_unlearn.core.files import atomic_write_csv

AGGREGATE_FILE = "aggregate_stat.csv"


def read_aggregate(eval_dir: Path) -> dict:
    path = Path(eval_dir) / AGGREGATE_FILE
    if not path.is_file():
        raise UserError(f"{path} does not exist; evaluate this model first.")
    return pd.read_csv(path).iloc[0].to_dict()


def add_columns(eval_dir: Path, columns: dict) -> None:
    """Set columns of eval_dir's one-row aggregate_stat.csv (attacks and the judge add theirs)."""
    path = Path(eval_dir) / AGGREGATE_FILE
    table = pd.read_csv(path) if path.is_file() else pd.DataFrame([{}])
    for column, value in columns.items():
        table[column] = value
    atomic_write_csv(path, table)


def upsert_summary(summary_csv: Path, method: str, split: str, row: dict) -> pd.DataFrame:
    """Add (or replace) the (method, split) row of a comparison table shared across runs."""
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
