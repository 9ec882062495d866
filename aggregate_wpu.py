"""WPU eval logs -> the one-row `aggregate_stat.csv` of the original, plus a comparison table
(causal_unlearn/eval/wpu_aggregate.py has the columns and their formulas).

    python aggregate_wpu.py --eval-dir OUT/eval                       # writes OUT/eval/aggregate_stat.csv
    python aggregate_wpu.py --eval-dir D --summary S.csv --method base --split forget_2_1
    python aggregate_wpu.py --as-is --eval-dir D --summary S.csv --method npo --split forget_2_1
"""

import argparse
import logging
from pathlib import Path

from causal_unlearn.core.errors import UserError
from causal_unlearn.core.runtime import setup_logging
from causal_unlearn.eval.tables import read_aggregate, upsert_summary
from causal_unlearn.eval.wpu_aggregate import write_aggregate

logger = logging.getLogger("aggregate_wpu")


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
