"""Soft-embedding attack: a few free input vectors inside the user turn, trained to make the attacked
model talk again (causal_unlearn/attacks/soft_embed.py has the protocol, soft_embed_vectors.py the
layout and the training).

    python soft_embed_attack.py --config-name=forget_mini.yaml save_dir=RUN          # a finished forget.py run
    python soft_embed_attack.py --config-name=forget_mini.yaml forget_loss=prompt_baseline model_path=PATH eval_dir=OUT

Output: `embedding_attack_output.json` in the run's evaluation folder and the columns
`Embed Attack ROUGE` (never below the plain answers: no attack is a candidate),
`Embed Attack ROUGE (best trained)` and `Embed Attack ROUGE (held-out)` of its aggregate_stat.csv.
"""

import hydra
from omegaconf import DictConfig

from causal_unlearn.attacks.soft_embed import run_soft_embed_attack
from causal_unlearn.core.configs import validate
from causal_unlearn.core.errors import exit_cleanly_on_user_error


@hydra.main(version_base="1.3", config_path="config", config_name="forget_mini")
@exit_cleanly_on_user_error
def main(cfg: DictConfig) -> None:
    validate(cfg)
    run_soft_embed_attack(cfg)


if __name__ == "__main__":
    main()
