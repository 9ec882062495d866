"""What the shell pipelines (scripts/wpu.sh, scripts/tofu.sh) ask of a config, answered by the
library's own rules instead of a copy of them in shell or inline Python.

    python -m causal_unlearn.pipeline_queries eval-dir forget_wpu.yaml split=forget_2_1 ...
        # the run's evaluation folder (core/run_layout.py)
    python -m causal_unlearn.pipeline_queries epoch-checkpoints forget_tofu.yaml split=forget01 ...
        # "steps_per_epoch checkpoints_to_keep" for a run that saves every epoch; refuses the
        # teacher's inputs (TOFU: the authors file) before any stage runs
"""

import sys

from causal_unlearn.core.configs import compose_config, validate
from causal_unlearn.core.errors import UserError
from causal_unlearn.core.run_layout import run_eval_dir
from causal_unlearn.teacher.targets import load_targets
from causal_unlearn.unlearn.step_plan import epoch_checkpoints


def answer(query: str, cfg) -> str:
    if query == "eval-dir":
        return str(run_eval_dir(cfg))
    if query == "epoch-checkpoints":
        if cfg.forget_loss in ("intervention", "whp"):
            load_targets(cfg)
        return " ".join(map(str, epoch_checkpoints(cfg)))
    raise UserError(f"unknown query '{query}'; use eval-dir or epoch-checkpoints.")


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print("usage: python -m causal_unlearn.pipeline_queries eval-dir|epoch-checkpoints CONFIG [OVERRIDES...]",
              file=sys.stderr)
        return 2
    try:
        cfg = compose_config(argv[1], argv[2:])
        validate(cfg)
        print(answer(argv[0], cfg))
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
