"""Train the unlearned (student) model with the chosen method (causal_unlearn/unlearn/run.py).

    python forget.py --config-name=forget_mini.yaml split=forget_2_1 forget_loss=intervention model_path=PATH
    python forget.py --config-name=forget_wpu.yaml split=forget_2_1 forget_loss=npo lr=4e-5 retain_strength=1
    torchrun --nproc_per_node=2 forget.py --config-name=forget_wpu.yaml ...      # k processes, any k

Teacher-based methods (intervention, whp) read the artifact teacher.py wrote for the same
config. A run killed mid-training and started again with the same command resumes from its
last checkpoint.
"""

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from causal_unlearn.core.configs import validate
from causal_unlearn.core.errors import exit_cleanly_on_user_error
from causal_unlearn.unlearn.run import run_forget


@hydra.main(version_base="1.3", config_path="config", config_name="forget_mini")
@exit_cleanly_on_user_error
def main(cfg: DictConfig) -> None:
    validate(cfg)
    run_forget(cfg, HydraConfig.get().job.config_name)


if __name__ == "__main__":
    main()
