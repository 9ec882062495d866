"""Evaluate every checkpoint of a TOFU run, aggregate each, and name the best one
(causal_unlearn/eval/checkpoints.py states the best-checkpoint rule).

    python eval_checkpoints.py run_dir=RUN retain_result=RETAIN/eval_log_aggregated.json split=forget10
    python eval_checkpoints.py run_dir=RUN model_family=tiny-random data_path=DIR split=forget01 ds_size=20

Each `RUN/checkpoint-{step}/` gets `eval/` (eval logs + aggregate_stat.csv); the choice goes to
RUN/best_checkpoint.json, and RUN/report.md plots every checkpoint.
"""

import hydra
from omegaconf import DictConfig

from causal_unlearn.core.configs import validate
from causal_unlearn.core.errors import exit_cleanly_on_user_error
from causal_unlearn.eval.checkpoints import evaluate_checkpoints


@hydra.main(version_base="1.3", config_path="config", config_name="eval_everything")
@exit_cleanly_on_user_error
def main(cfg: DictConfig) -> None:
    validate(cfg)
    evaluate_checkpoints(cfg)


if __name__ == "__main__":
    main()
