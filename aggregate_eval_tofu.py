"""TOFU eval logs -> the one-row `aggregate_stat.csv` with TOFU's 18 columns
(causal_unlearn/eval/tofu_aggregate.py has the columns and their formulas).

    python aggregate_eval_tofu.py ckpt_result=CKPT/eval/eval_log_aggregated.json \
        retain_result=RETAIN/eval/eval_log_aggregated.json save_file=CKPT/eval/aggregate_stat.csv

Without retain_result (a retain model's log) the two Forget Quality columns stay empty.
"""

import json
import logging
from pathlib import Path

import hydra
import pandas as pd
from omegaconf import DictConfig

from causal_unlearn.core.errors import UserError, exit_cleanly_on_user_error
from causal_unlearn.core.files import atomic_write_csv
from causal_unlearn.eval.tofu_aggregate import aggregate_tofu

logger = logging.getLogger("aggregate_tofu")


def _read(path: str, what: str) -> dict:
    file = Path(path).expanduser()
    if not file.is_file():
        raise UserError(f"{what} {path} does not exist; run evaluate_util.py --config-name=eval_everything.yaml first.")
    return json.loads(file.read_text())


@hydra.main(version_base="1.3", config_path="config", config_name="aggregate_eval_stat")
@exit_cleanly_on_user_error
def main(cfg: DictConfig) -> None:
    if not cfg.ckpt_result:
        raise UserError("Set ckpt_result=PATH/eval_log_aggregated.json.")
    ckpt = _read(cfg.ckpt_result, "ckpt_result")
    retain = _read(cfg.retain_result, "retain_result") if cfg.retain_result else None
    if retain is None:
        logger.warning("No retain_result: Forget Quality stays empty (evaluate a retain-split model to get it).")
    row = aggregate_tofu(ckpt, retain)
    save_file = Path(cfg.save_file or Path(cfg.ckpt_result).with_name("aggregate_stat.csv"))
    atomic_write_csv(save_file, pd.DataFrame([row]))
    logger.info("Wrote %s: %s", save_file, ", ".join(f"{k}={v:.3g}" for k, v in row.items()))


if __name__ == "__main__":
    main()
