"""A report people can look at: report.md plus PNG plots next to the results (causal_unlearn/eval/report.py).

WPU-style comparison table (one row per method and split, e.g. results/demo/summary.csv):

    python report.py --summary results/demo/summary.csv --reference implanted

TOFU run directory (one aggregate_stat.csv per checkpoint, under checkpoint-*/eval/):

    python report.py --tofu-run results/locuslab/tofu_ft_llama2-7b/intervention/1_42_forget10
"""

import argparse
import logging
from pathlib import Path

from causal_unlearn.core.errors import UserError
from causal_unlearn.core.runtime import setup_logging
from causal_unlearn.eval.report import tofu_report, wpu_report

logger = logging.getLogger("report")


def main() -> None:
    setup_logging()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--summary", type=Path, help="comparison CSV (method, split, WPU columns)")
    parser.add_argument("--reference", default=None, help="method row drawn as the before-unlearning reference")
    parser.add_argument("--tofu-run", type=Path, help="TOFU run directory holding checkpoint-*/eval/aggregate_stat.csv")
    args = parser.parse_args()
    try:
        if args.summary:
            logger.info("Wrote %s", wpu_report(args.summary, args.reference))
        elif args.tofu_run:
            logger.info("Wrote %s", tofu_report(args.tofu_run))
        else:
            raise UserError("Give --summary CSV or --tofu-run DIR.")
    except UserError as err:
        raise SystemExit(f"error: {err}")


if __name__ == "__main__":
    main()
