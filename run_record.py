"""What every run directory records, so results can be reproduced: the resolved config,
library versions, device count and effective batch size."""

from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from utils import atomic_write_json, atomic_write_text, library_versions


def write_run_record(run_dir: str | Path, cfg: DictConfig, stats: dict | None = None) -> None:
    run_dir = Path(run_dir)
    atomic_write_text(run_dir / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))
    record = {
        "versions": library_versions(),
        "device_count": torch.cuda.device_count() if torch.cuda.is_available() else 0,
        "device": "cuda" if torch.cuda.is_available() else "cpu",
        **(stats or {}),
    }
    atomic_write_json(run_dir / "run_info.json", record)
