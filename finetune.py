"""Fine-tune a base model on documents and QA pairs; save a normal HF folder (causal_unlearn/unlearn/finetune.py).

Used for the embedded default's knowledge implant, and for TOFU target and retain models. A rerun
with unchanged inputs returns at once.

    python finetune.py --config-name=finetune_mini.yaml
    python finetune.py --config-name=finetune_tofu.yaml qa_splits=[retain99] save_dir=models/tofu_retain99
"""

import hydra
from omegaconf import DictConfig

from causal_unlearn.core.configs import validate
from causal_unlearn.core.errors import exit_cleanly_on_user_error
from causal_unlearn.unlearn.finetune import run_finetune


@hydra.main(version_base="1.3", config_path="config", config_name="finetune_mini")
@exit_cleanly_on_user_error
def main(cfg: DictConfig) -> None:
    validate(cfg)
    run_finetune(cfg)


if __name__ == "__main__":
    main()
