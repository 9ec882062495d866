"""Evaluate every checkpoint of a TOFU run, aggregate each, and name the best one.

Each `RUN/checkpoint-{step}/` gets `eval/` (eval logs + aggregate_stat.csv, TOFU's layout);
weights are never deleted, so checkpoints can be evaluated again. Best-checkpoint rule: the
highest Forget Quality (the forget set looks most like never seen), ties broken by the highest
Model Utility; without a retain_result, the highest Model Utility among checkpoints whose
ROUGE Forget is at most the run's median. The choice goes to RUN/best_checkpoint.json, and
RUN/report.md plots every checkpoint.
"""

import json
import logging
import math
from pathlib import Path

import pandas as pd
from omegaconf import DictConfig

from causal_unlearn.core.errors import UserError
from causal_unlearn.core.files import atomic_write_csv, atomic_write_json
from causal_unlearn.core.run_layout import checkpoint_dirs, checkpoint_eval_dir
from causal_unlearn.eval.qa_eval import run_evaluation
from causal_unlearn.eval.report import tofu_report
from causal_unlearn.eval.tables import AGGREGATE_FILE
from causal_unlearn.eval.tofu_aggregate import aggregate_tofu

logger = logging.getLogger("eval_checkpoints")


def checkpoints(run_dir: Path) -> list[Path]:
    found = checkpoint_dirs(run_dir)
    if not found:
        raise UserError(f"No checkpoint-<step> folders in {run_dir}; train with forget.py first.")
    return found


def best_checkpoint(rows: dict[str, dict]) -> str:
    """The documented rule (module docstring)."""
    if all(not math.isnan(r["Forget Quality"]) for r in rows.values()):
        return max(rows, key=lambda name: (rows[name]["Forget Quality"], rows[name]["Model Utility"]))
    median = pd.Series([r["ROUGE Forget"] for r in rows.values()]).median()
    eligible = [name for name, r in rows.items() if r["ROUGE Forget"] <= median]
    return max(eligible, key=lambda name: rows[name]["Model Utility"])


def evaluate_checkpoints(cfg: DictConfig) -> str:
    """Evaluate and aggregate every checkpoint of cfg.run_dir; write best_checkpoint.json and the report."""
    if not cfg.run_dir:
        raise UserError("Set run_dir=PATH (the folder holding checkpoint-<step>/).")
    run_dir = Path(cfg.run_dir).expanduser()
    retain = json.loads(Path(cfg.retain_result).read_text()) if cfg.retain_result else None
    rows = {}
    for checkpoint in checkpoints(run_dir):
        cfg.model_path, cfg.save_dir = str(checkpoint), str(checkpoint_eval_dir(checkpoint))
        eval_dir = run_evaluation(cfg)
        rows[checkpoint.name] = aggregate_tofu(json.loads((eval_dir / "eval_log_aggregated.json").read_text()), retain)
        atomic_write_csv(eval_dir / AGGREGATE_FILE, pd.DataFrame([rows[checkpoint.name]]))
    best = best_checkpoint(rows)
    atomic_write_json(run_dir / "best_checkpoint.json", {"best": best, "rule": "max Forget Quality, then Model Utility"
                      if retain else "max Model Utility among checkpoints with ROUGE Forget <= median", "rows": rows})
    tofu_report(run_dir)
    logger.info("Best checkpoint: %s; report: %s", best, run_dir / "report.md")
    return best
