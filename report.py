"""A report people can look at: report.md plus PNG plots next to the results (causal_unlearn/eval/report.py).

WPU-style comparison table (one row per method and split, e.g. results/demo/summary.csv):

    python report.py --summary results/demo/summary.csv --reference implanted

TOFU run directory (one aggregate_stat.csv per checkpoint, under checkpoint-*/eval/):

    python report.py --tofu-run results/locuslab/tofu_ft_llama2-7b/intervention/1_42_forget10

TOFU frontier across methods (Forget Quality against Model Utility at every checkpoint):

    python report.py --tofu-frontier intervention=RUN_A grad_diff=RUN_B npo=RUN_C --out results/tofu_cpu \
        --start TARGET_EVAL   # optional: the eval folder (aggregate_stat.csv) of the model before unlearning, step 0
"""

import argparse
import logging
from pathlib import Path

from causal_unlearn.core.errors import UserError
from causal_unlearn.core.runtime import setup_logging
from causal_unlearn.eval.report import tofu_frontier_report, tofu_report, wpu_report

logger = logging.getLogger("report")


def main() -> None:
    setup_logging()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--summary", type=Path, help="comparison CSV (method, split, WPU columns)")
    parser.add_argument("--reference", default=None, help="method row drawn as the before-unlearning reference")
    parser.add_argument("--tofu-run", type=Path, help="TOFU run directory holding checkpoint-*/eval/aggregate_stat.csv")
    parser.add_argument("--tofu-frontier", nargs="+", metavar="METHOD=RUN", help="TOFU runs to plot on one frontier")
    parser.add_argument("--start", type=Path, default=None,
                        help="with --tofu-frontier: eval folder of the model before unlearning (aggregate_stat.csv), step 0")
    parser.add_argument("--out", type=Path, default=Path("."), help="where --tofu-frontier writes tofu_frontier.md")
    args = parser.parse_args()
    try:
        if args.summary:
            logger.info("Wrote %s", wpu_report(args.summary, args.reference))
        elif args.tofu_run:
            logger.info("Wrote %s", tofu_report(args.tofu_run))
        elif args.tofu_frontier:
            pairs = [item.split("=", 1) for item in args.tofu_frontier]
            if any(len(pair) != 2 for pair in pairs):
                raise UserError("--tofu-frontier takes METHOD=RUN_DIR pairs, e.g. intervention=results/runs/x")
            logger.info("Wrote %s", tofu_frontier_report({m: Path(r) for m, r in pairs}, args.out, args.start))
        else:
            raise UserError("Give --summary CSV, --tofu-run DIR or --tofu-frontier METHOD=RUN ....")
    except UserError as err:
        raise SystemExit(f"error: {err}")


if __name__ == "__main__":
    main()
