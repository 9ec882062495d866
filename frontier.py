"""Forgetting-retention frontiers: every method at several budgets, seeds and splits, evaluated at
every checkpoint, compared at matched forgetting with bootstrap intervals (docs/frontier.md).

    python frontier.py                                        # config/frontier_mini.yaml's grid
    python frontier.py frontier.seeds=[1,2,3] frontier.workers=4
    python frontier.py frontier.report_only=true              # frontier.csv and report.md from finished runs
    python frontier.py --config-name=frontier_wpu             # the paper's Llama-2-7b-chat on WPU, one GPU per job

Writes {frontier.out_dir}/frontier.csv (one row per run and budget) and report.md (plots, the
matched-forgetting table, verdicts). A rerun skips every finished run.
"""

import logging
import os
import time
from pathlib import Path

import hydra
from omegaconf import DictConfig

from causal_unlearn.core.errors import exit_cleanly_on_user_error
from causal_unlearn.eval.frontier_grid import check_settings, ensure_implant, finished_records, run_grid
from causal_unlearn.eval.frontier_report import write_report

logger = logging.getLogger("frontier")


@hydra.main(version_base="1.3", config_path="config", config_name="frontier_mini")
@exit_cleanly_on_user_error
def main(cfg: DictConfig) -> None:
    settings = cfg.frontier
    check_settings(settings)
    started = time.time()
    if settings.report_only:
        references, records = finished_records(settings)
        seconds = None
    else:
        ensure_implant(settings)
        references, records = run_grid(settings, cores=os.cpu_count() or 1)
        seconds = time.time() - started
    report = write_report(Path(settings.out_dir), references, records, list(settings.splits),
                          list(settings.match_at), int(settings.draws), settings.reference_method, seconds)
    logger.info("frontier.csv and %s written (%d runs)", report, len(records))


if __name__ == "__main__":
    main()
