"""Evaluate every checkpoint of a TOFU run, aggregate each, and name the best one.

    python eval_checkpoints.py run_dir=RUN retain_result=RETAIN/eval_log_aggregated.json split=forget10
    python eval_checkpoints.py run_dir=RUN model_family=tiny-random data_path=DIR split=forget01 ds_size=20

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
import re
from pathlib import Path

import hydra
import pandas as pd
from omegaconf import DictConfig

from aggregate_eval_tofu import aggregate_tofu
from evaluate_util import run_evaluation
from report import tofu_report
from utils import UserError, atomic_write_csv, atomic_write_json, exit_cleanly_on_user_error

logger = logging.getLogger("eval_checkpoints")


def checkpoints(run_dir: Path) -> list[Path]:
    found = [p for p in run_dir.glob("checkpoint-*") if p.is_dir() and re.fullmatch(r"checkpoint-\d+", p.name)]
    if not found:
        raise UserError(f"No checkpoint-<step> folders in {run_dir}; train with forget.py first.")
    return sorted(found, key=lambda p: int(p.name.split("-")[1]))


def best_checkpoint(rows: dict[str, dict]) -> str:
    """The documented rule (module docstring)."""
    if all(not math.isnan(r["Forget Quality"]) for r in rows.values()):
        return max(rows, key=lambda name: (rows[name]["Forget Quality"], rows[name]["Model Utility"]))
    median = pd.Series([r["ROUGE Forget"] for r in rows.values()]).median()
    eligible = [name for name, r in rows.items() if r["ROUGE Forget"] <= median]
    return max(eligible, key=lambda name: rows[name]["Model Utility"])


@hydra.main(version_base="1.3", config_path="config", config_name="eval_everything")
@exit_cleanly_on_user_error
def main(cfg: DictConfig) -> None:
    if not cfg.run_dir:
        raise UserError("Set run_dir=PATH (the folder holding checkpoint-<step>/).")
    run_dir = Path(cfg.run_dir).expanduser()
    retain = json.loads(Path(cfg.retain_result).read_text()) if cfg.retain_result else None
    rows = {}
    for checkpoint in checkpoints(run_dir):
        cfg.model_path, cfg.save_dir = str(checkpoint), str(checkpoint / "eval")
        eval_dir = run_evaluation(cfg)
        rows[checkpoint.name] = aggregate_tofu(json.loads((eval_dir / "eval_log_aggregated.json").read_text()), retain)
        atomic_write_csv(eval_dir / "aggregate_stat.csv", pd.DataFrame([rows[checkpoint.name]]))
    best = best_checkpoint(rows)
    atomic_write_json(run_dir / "best_checkpoint.json", {"best": best, "rule": "max Forget Quality, then Model Utility"
                      if retain else "max Model Utility among checkpoints with ROUGE Forget <= median", "rows": rows})
    tofu_report(run_dir)
    logger.info("Best checkpoint: %s; report: %s", best, run_dir / "report.md")


if __name__ == "__main__":
    main()
