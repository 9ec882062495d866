"""Build the causal-intervention teacher for every target of a split (causal_unlearn/teacher/).

    python teacher.py --config-name=forget_mini.yaml split=forget_2_1 teacher.N=5
    python teacher.py --config-name=forget_wpu.yaml split=forget_2_1 teacher.N=20
    python teacher.py --config-name=forget_tofu.yaml split=forget01 teacher.N=1
    python teacher.py --config-name=forget_mini.yaml forget_loss=whp teacher.whp_baseline=true teacher.N=1
    python -m torch.distributed.run --nproc_per_node=k teacher.py ...     # k processes share the targets

A rerun with the same inputs returns at once; a changed input rebuilds the artifact.
"""

import hydra
from omegaconf import DictConfig

from causal_unlearn.core.configs import validate
from causal_unlearn.core.errors import exit_cleanly_on_user_error
from causal_unlearn.teacher.build import run_teacher


@hydra.main(version_base="1.3", config_path="config", config_name="forget_mini")
@exit_cleanly_on_user_error
def main(cfg: DictConfig) -> None:
    validate(cfg)
    run_teacher(cfg)


if __name__ == "__main__":
    main()
