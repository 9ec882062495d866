"""Evaluate a model on QA tasks: greedy answers + ROUGE recall, gold-answer probability, truth
ratio, into the original's eval logs (causal_unlearn/eval/qa_eval.py).

    python evaluate_util.py --config-name=forget_mini.yaml model_path=PATH eval.save_dir=OUT
    python evaluate_util.py --config-name=eval_everything.yaml model_path=CKPT save_dir=CKPT/eval split=forget10

With a forget config the `eval` block is used; eval_everything.yaml is an eval block itself.
A rerun with the same model, data and settings is skipped.
"""

import hydra
from omegaconf import DictConfig

from causal_unlearn.core.configs import validate
from causal_unlearn.core.errors import exit_cleanly_on_user_error
from causal_unlearn.eval.decoding import generate_answers  # noqa: F401
from causal_unlearn.eval.qa_eval import answer_losses, evaluate_model, run_evaluation  # noqa: F401
from causal_unlearn.eval.rouge import rouge_recalls  # noqa: F401


@hydra.main(version_base="1.3", config_path="config", config_name="forget_mini")
@exit_cleanly_on_user_error
def main(cfg: DictConfig) -> None:
    validate(cfg)
    run_evaluation(cfg.eval if "eval" in cfg else cfg)


if __name__ == "__main__":
    main()
