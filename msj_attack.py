"""Many-shot jailbreak: each forget question follows many correctly answered questions about
others, as prior chat turns; a sweep of shot counts and a control with the targets' names swapped
for never-seen names (causal_unlearn/attacks/msj.py, docs/attacks.md).

    python msj_attack.py --config-name=forget_mini.yaml forget_loss=npo split=forget_2_1
    python msj_attack.py --config-name=forget_mini.yaml forget_loss=prompt_baseline model_path=PATH eval_dir=OUT
    python msj_attack.py forget_loss=none model_path=PATH eval_dir=OUT msj.max_shots=32 'msj.shot_counts=[0,8,32]'
    python msj_attack.py --config-name=forget_wpu.yaml msj.shots_file=../shared/data/reference/msj_attack.json

Output: `msj_attack_output.json` (the original's keys for the headline attack, plus the sweep and
the control) in the run's evaluation folder, and the columns `MSJ attack ROUGE`, `MSJ ROUGE (k shots)`,
`MSJ stranger ROUGE` and `MSJ recovery` of its aggregate_stat.csv. A rerun with the same inputs is skipped.
"""

import hydra
from omegaconf import DictConfig

from causal_unlearn.attacks.msj import run_msj_attack
from causal_unlearn.core.configs import validate
from causal_unlearn.core.errors import exit_cleanly_on_user_error


@hydra.main(version_base="1.3", config_path="config", config_name="forget_mini")
@exit_cleanly_on_user_error
def main(cfg: DictConfig) -> None:
    validate(cfg)
    run_msj_attack(cfg)


if __name__ == "__main__":
    main()
