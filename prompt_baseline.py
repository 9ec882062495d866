"""The prompting baseline: no training, only a system prompt asking the model to behave as if it
had never learned about the forget split's persons (causal_unlearn/unlearn/prompt_baseline.py).

    python prompt_baseline.py --config-name=forget_mini.yaml split=forget_2_1 model_path=PATH
    python prompt_baseline.py --config-name=forget_wpu.yaml split=forget_2_1

Writes the eval logs and `aggregate_stat.csv` into eval.save_dir (by default
`{save_dir_root}/{model_family}/prompt_baseline/..._{split}/eval`).
"""

import hydra
from omegaconf import DictConfig

from causal_unlearn.core.configs import validate
from causal_unlearn.core.errors import exit_cleanly_on_user_error
from causal_unlearn.unlearn.prompt_baseline import run_prompt_baseline


@hydra.main(version_base="1.3", config_path="config", config_name="forget_mini")
@exit_cleanly_on_user_error
def main(cfg: DictConfig) -> None:
    validate(cfg)
    run_prompt_baseline(cfg)


if __name__ == "__main__":
    main()
