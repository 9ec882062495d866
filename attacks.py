"""Both attacks and the judge on one model, in one process: the many-shot jailbreak
(msj_attack.py), the soft-embedding attack (soft_embed_attack.py), then the LLM judge (eval_gpt.py),
each exactly as its own entry point runs it, paying the imports once (causal_unlearn/attacks/all_stages.py).
scripts/wpu.sh and scripts/demo.sh run this.

    python attacks.py --config-name=forget_mini.yaml forget_loss=npo split=forget_2_1
    python attacks.py forget_loss=none model_path=PATH eval_dir=OUT 'attacks=[msj,soft_embed]'

`attacks` (config/base.yaml) lists the stages: msj, soft_embed, judge (default: all three, in that order).
"""

import hydra
from omegaconf import DictConfig

from causal_unlearn.attacks.all_stages import run_attacks
from causal_unlearn.core.configs import validate
from causal_unlearn.core.errors import exit_cleanly_on_user_error


@hydra.main(version_base="1.3", config_path="config", config_name="forget_mini")
@exit_cleanly_on_user_error
def main(cfg: DictConfig) -> None:
    validate(cfg)
    run_attacks(cfg)


if __name__ == "__main__":
    main()
