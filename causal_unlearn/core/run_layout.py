"""The layout of a run folder: the one place that knows where a stage's outputs go.

    {save_dir_root}/{model}/{forget_loss}/{N}_{seed}_{split}/   the default save_dir (model: `model_tag`)
    {save_dir}/                       the unlearned model (forget.py), config.yaml, run_info.json
    {save_dir}/run_fingerprint.json   which configuration the checkpoints in it belong to
    {save_dir}/forget_done.json       written last: the run is complete (its fingerprint, max_steps, ...)
    {save_dir}/checkpoint-{step}/     Trainer checkpoints; the last one also holds the WPU evaluation
                                      (eval logs, aggregate_stat.csv, attack outputs, judge scores)
    {save_dir}/checkpoint-{step}/eval/  TOFU: each checkpoint's evaluation (eval_checkpoints.py)

Runs that train nothing (forget_loss=prompt_baseline, or none for the base/implanted model) are
evaluated into eval.save_dir, or into eval_dir when it is set.
"""

import re
from pathlib import Path

from omegaconf import DictConfig

from causal_unlearn.core.errors import UserError
from causal_unlearn.core.stage import read_record

FORGET_DONE = "forget_done.json"
RUN_FINGERPRINT = "run_fingerprint.json"
PROMPT_BASELINE = "prompt_baseline"
NO_UNLEARNING = "none"  # forget_loss=none: model_path as it is (the base or implanted model)
UNTRAINED = (PROMPT_BASELINE, NO_UNLEARNING)
_CHECKPOINT = re.compile(r"checkpoint-(\d+)")


def model_tag(model_family: str, model_path: str | None) -> str:
    """The model part of output paths: a hub id as is, a local folder by its name, else the family."""
    if not model_path:
        return model_family
    local = Path(str(model_path)).expanduser()
    return local.name if local.exists() else str(model_path)


def checkpoint_dir(save_dir: Path, step: int) -> Path:
    return Path(save_dir) / f"checkpoint-{step}"


def checkpoint_step(path: Path) -> int:
    """The step of a checkpoint-{step} folder (or of a path inside one); -1 for anything else."""
    match = _CHECKPOINT.search(str(path))
    return int(match.group(1)) if match else -1


def checkpoint_dirs(run_dir: Path) -> list[Path]:
    """The run's checkpoint-{step} folders, oldest first."""
    found = [p for p in Path(run_dir).glob("checkpoint-*") if p.is_dir() and _CHECKPOINT.fullmatch(p.name)]
    return sorted(found, key=checkpoint_step)


def checkpoint_eval_dir(checkpoint: Path) -> Path:
    """Where a checkpoint's own evaluation goes (TOFU, eval_checkpoints.py)."""
    return Path(checkpoint) / "eval"


def finished_run(save_dir: Path) -> dict | None:
    """The done record of a complete forget.py run in save_dir, or None."""
    return read_record(Path(save_dir) / FORGET_DONE)


def run_eval_dir(cfg: DictConfig) -> Path:
    """eval_dir if set; else a finished forget.py run's checkpoint-{steps}/; else eval.save_dir."""
    if cfg.get("eval_dir"):
        return Path(cfg.eval_dir).expanduser()
    save_dir = Path(cfg.save_dir).expanduser()
    done = finished_run(save_dir) if cfg.forget_loss not in UNTRAINED else None
    if done is not None:
        return checkpoint_dir(save_dir, done["max_steps"])
    return Path(cfg.eval.save_dir).expanduser()


def finished_model_path(cfg: DictConfig) -> str | None:
    """The weights a stage after training works on: save_dir's finished unlearned model, or
    model_path for the runs that train nothing."""
    if cfg.forget_loss in UNTRAINED:
        return cfg.model_path
    save_dir = Path(cfg.save_dir).expanduser()
    if finished_run(save_dir) is None:
        raise UserError(f"{save_dir} holds no finished unlearned model; run forget.py with the same overrides first "
                        f"(or set save_dir to a finished run).")
    return str(save_dir)
