"""A forget run's folder across interruptions: which configuration it belongs to, the checkpoint
to resume from, and what a finished run no longer needs (core/run_layout.py has the layout)."""

import json
import logging
import shutil
from pathlib import Path

from omegaconf import DictConfig, OmegaConf
from transformers.trainer import TRAINER_STATE_NAME  # the file the Trainer writes last into a checkpoint

from causal_unlearn.core.distributed import is_main_process, world_size
from causal_unlearn.core.errors import UserError
from causal_unlearn.core.models import load_family, model_dir, precision_record
from causal_unlearn.core.run_layout import RUN_FINGERPRINT, checkpoint_dirs
from causal_unlearn.core.stage import fingerprint, folder_fingerprint, read_record, write_record

logger = logging.getLogger("forget")
RESUME_ONLY_FILES = ("optimizer.pt", "scheduler.pt", "rng_state*.pth")


def run_fingerprint(cfg: DictConfig) -> str:
    """What the trained weights depend on: every setting but where outputs go, the start weights,
    and the process count."""
    settings = OmegaConf.to_container(cfg, resolve=True)
    for key in ("save_dir", "eval", "save_steps"):
        settings.pop(key, None)
    # auto means another precision on another machine: the resolved one counts, float32 adds nothing
    settings.update(precision_record(settings.pop("cpu_bf16_autocast", False)))
    family = load_family(cfg.model_family)
    return fingerprint(settings, folder_fingerprint(model_dir(family, cfg.model_path)), world_size())


def last_complete_checkpoint(save_dir: Path) -> str | None:
    """The newest checkpoint the Trainer finished writing. It writes trainer_state.json last, so a
    checkpoint without a readable one was cut off by a kill while saving: it is removed, and the
    run resumes from the one before it."""
    for checkpoint in reversed(checkpoint_dirs(save_dir)):
        try:
            json.loads((checkpoint / TRAINER_STATE_NAME).read_text())
            return str(checkpoint)
        except (OSError, ValueError):
            if is_main_process():
                logger.info("Removing %s: the run was killed while saving it", checkpoint)
                shutil.rmtree(checkpoint)
    return None


def prepare_save_dir(save_dir: Path, wanted: str) -> str | None:
    """Returns the checkpoint to resume from; refuses checkpoints made by another config."""
    marker = save_dir / RUN_FINGERPRINT
    has_checkpoints = bool(checkpoint_dirs(save_dir)) if save_dir.is_dir() else False
    record = read_record(marker) or {}  # a damaged record names no configuration: not this one
    if marker.is_file() and record.get("fingerprint") != wanted and has_checkpoints:
        raise UserError(f"{save_dir} holds checkpoints of a different configuration; "
                        f"use another save_dir or delete it (overwrite_dir=true).")
    if is_main_process():
        write_record(marker, wanted)
    return last_complete_checkpoint(save_dir) if has_checkpoints else None


def drop_resume_state(save_dir: Path) -> None:
    """A finished run never resumes, so its checkpoints' optimizer states (twice the weights in
    fp32) are deleted; the checkpoint weights stay for per-checkpoint evaluation."""
    freed = 0
    for pattern in RESUME_ONLY_FILES:
        for path in save_dir.glob(f"checkpoint-*/{pattern}"):
            freed += path.stat().st_size
            path.unlink()
    if freed:
        logger.info("Removed optimizer states from the finished run's checkpoints (%.0f MB)", freed / 2**20)
