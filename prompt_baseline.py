"""The prompting baseline: no training, only a system prompt asking the model to behave as if it
had never learned about the forget split's persons ("pretend to unlearn").

    python prompt_baseline.py --config-name=forget_mini.yaml split=forget_2_1 model_path=PATH
    python prompt_baseline.py --config-name=forget_wpu.yaml split=forget_2_1

It evaluates `model_path` behind that prompt, in the family's own chat format, on the same tasks
as evaluate_util.py (forget, hard retain, general retain, other persons when configured) and
writes the same eval logs and `aggregate_stat.csv` into eval.save_dir (by default
`{save_dir_root}/{model_family}/prompt_baseline/..._{split}/eval`). The attacks and the judge then
run on it with `forget_loss=prompt_baseline`; they keep the system prompt too.
"""

import logging
from pathlib import Path

import hydra
from omegaconf import DictConfig, open_dict

from aggregate_wpu import write_aggregate
from attack_common import PROMPT_BASELINE, run_eval_dir, system_prompt
from evaluate_util import run_evaluation
from utils import exit_cleanly_on_user_error

logger = logging.getLogger("prompt_baseline")


def run_prompt_baseline(cfg: DictConfig) -> Path:
    with open_dict(cfg):
        cfg.forget_loss = PROMPT_BASELINE  # selects the system prompt and the default save_dir
        cfg.eval.save_dir = str(run_eval_dir(cfg))
    system = system_prompt(cfg)
    logger.info("System prompt: %s", system)
    eval_dir = run_evaluation(cfg.eval, system=system)
    row = write_aggregate(eval_dir)
    logger.info("Prompting baseline: %s", ", ".join(f"{k}={v:.3f}" for k, v in row.items() if "ROUGE" in k))
    return eval_dir


@hydra.main(version_base="1.3", config_path="config", config_name="forget_mini")
@exit_cleanly_on_user_error
def main(cfg: DictConfig) -> None:
    run_prompt_baseline(cfg)


if __name__ == "__main__":
    main()
