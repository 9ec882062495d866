"""One job of the frontier grid, run in its own process (frontier.py starts it):

    python -m causal_unlearn.eval.frontier_job SPEC.json

SPEC is what frontier_grid.py planned: {"kind": "teacher" | "reference" | "train", "config": the
stage config name, "overrides": Hydra overrides of it, "run_dir": the job's folder, "attack": whether
both attacks run on the model evaluated last}.

- teacher: teacher.py's stage (skipped when its artifact is up to date).
- reference: the implanted model evaluated on the split, with never-seen names (the floor) and the
  other split (Other Persons), into run_dir/eval.
- train: forget.py's training with a checkpoint every save_steps steps, then every checkpoint
  evaluated into checkpoint-{step}/eval. Each stage skips itself when its outputs are current, so
  a killed job continues where it stopped.

With "attack", the many-shot jailbreak and the soft-embedding attack (attacks.py's stages) run on
the reference model, or on a training job's last checkpoint, into that model's eval folder.
"""

import json
import logging
import sys
from pathlib import Path

from omegaconf import DictConfig, open_dict

from causal_unlearn.attacks.all_stages import run_attacks
from causal_unlearn.core.configs import compose_config, validate
from causal_unlearn.core.run_layout import checkpoint_dirs, checkpoint_eval_dir
from causal_unlearn.core.runtime import setup_logging
from causal_unlearn.eval.qa_eval import run_evaluation
from causal_unlearn.teacher.build import run_teacher
from causal_unlearn.unlearn.run import run_forget

logger = logging.getLogger("frontier")


def stage_config(config_name: str, overrides: list[str]) -> DictConfig:
    cfg = compose_config(config_name, overrides)
    validate(cfg)
    return cfg


def evaluate_into(cfg: DictConfig, model_path: str, save_dir: Path) -> None:
    with open_dict(cfg):
        cfg.eval.model_path, cfg.eval.save_dir = model_path, str(save_dir)
    run_evaluation(cfg.eval)


def attack_into(cfg: DictConfig, eval_dir: Path) -> None:
    """Both attacks on the job's model (model_path for the reference, the run's final weights, which
    are its last checkpoint's, for a training job), their outputs into `eval_dir`."""
    with open_dict(cfg):
        cfg.eval_dir, cfg.attacks = str(eval_dir), ["msj", "soft_embed"]
    run_attacks(cfg)


def run_job(spec: dict) -> None:
    cfg = stage_config(spec["config"], spec["overrides"])
    run_dir = Path(spec["run_dir"])
    if spec["kind"] == "teacher":
        run_teacher(cfg)
    elif spec["kind"] == "reference":
        evaluate_into(cfg, cfg.model_path, run_dir / "eval")
        if spec.get("attack"):
            attack_into(cfg, run_dir / "eval")
    elif spec["kind"] == "train":
        run_forget(cfg, spec["config"])
        checkpoints = checkpoint_dirs(run_dir)
        for checkpoint in checkpoints:
            logger.info("Evaluating %s", checkpoint.name)
            evaluate_into(cfg, str(checkpoint), checkpoint_eval_dir(checkpoint))
        if spec.get("attack") and checkpoints:
            logger.info("Attacking %s", checkpoints[-1].name)
            attack_into(cfg, checkpoint_eval_dir(checkpoints[-1]))
    else:
        raise ValueError(f"unknown frontier job kind {spec['kind']!r}")


def main() -> None:
    setup_logging()
    run_job(json.loads(Path(sys.argv[1]).read_text()))


if __name__ == "__main__":
    main()
