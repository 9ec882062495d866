"""LLM judge over any OpenAI-compatible endpoint, plus the local repetition measure
(causal_unlearn/attacks/judge.py lists the columns).

    OPENAI_API_KEY=... python eval_gpt.py --config-name=forget_mini.yaml eval_dir=RUN/eval
    python eval_gpt.py eval_dir=RUN/eval judge.base_url=http://127.0.0.1:8000/v1 judge.model=MODEL

With no endpoint or key configured the judge columns stay empty, one line says why, and the
program still succeeds.
"""

import hydra
from omegaconf import DictConfig

from causal_unlearn.attacks.judge import run_judge
from causal_unlearn.core.configs import validate
from causal_unlearn.core.errors import exit_cleanly_on_user_error


@hydra.main(version_base="1.3", config_path="config", config_name="forget_mini")
@exit_cleanly_on_user_error
def main(cfg: DictConfig) -> None:
    validate(cfg)
    run_judge(cfg)


if __name__ == "__main__":
    main()
