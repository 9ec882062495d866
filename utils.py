"""Small helpers shared by every stage: errors, paths, atomic writes, fingerprints, run records."""

import functools
import hashlib
import json
import logging
import os
import platform
import random
import sys
import tempfile
from pathlib import Path

logger = logging.getLogger(__name__)


class UserError(Exception):
    """An error the user can fix; entry points print its message as one line and exit 1."""


def repo_root() -> Path:
    return Path(__file__).resolve().parent


def resolve_repo_path(path: str) -> str:
    """Relative paths in configs mean relative to the repo root (hub ids pass through unchanged)."""
    candidate = Path(path).expanduser()
    if candidate.is_absolute() or candidate.exists():
        return str(candidate)
    in_repo = repo_root() / candidate
    return str(in_repo) if in_repo.exists() else path


def set_seed(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write via a temp file in the same folder + rename, so a kill never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: str | Path, data) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def atomic_write_csv(path: str | Path, frame) -> None:
    atomic_write_text(path, frame.to_csv(index=False))


def check_numbers(cfg, rules: dict[str, str], prefix: str = "") -> None:
    """Refuse a setting of the wrong type or range with one line naming it. The configs are plain
    YAML, so Hydra passes `lr=abc` or `num_epochs=-1` through unchecked; they would otherwise fail
    deep inside a stage, or (num_epochs=-1) quietly run one step.

    rules: dotted key -> "positive number" | "non-negative number" | "positive integer" |
    "non-negative integer", optionally followed by " or null". Keys a config lacks are skipped.
    """
    import math

    from omegaconf import OmegaConf

    absent = object()
    for key, rule in rules.items():
        value = OmegaConf.select(cfg, key, default=absent)
        if value is absent or (value is None and rule.endswith(" or null")):
            continue
        kind = int if "integer" in rule else (int, float)
        valid = isinstance(value, kind) and not isinstance(value, bool) and math.isfinite(value)
        if not valid or not (value > 0 if rule.startswith("positive") else value >= 0):
            raise UserError(f"{prefix}{key}={value} is not a {rule}; set {prefix}{key} to one "
                            f"(on the command line or in the config).")


def require_writable_dir(folder: str | Path, setting: str) -> None:
    """Create `folder` and check a file can be written in it, so a read-only or impossible output
    path is refused before any work, with the setting to change."""
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
    except OSError as err:
        raise UserError(f"Cannot write to {folder} ({err.strerror or err}); set {setting} to a writable folder.") from None


def fingerprint(*parts) -> str:
    """Stable short hash of JSON-serialisable parts (configs, file stats, versions)."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def file_fingerprint(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def folder_fingerprint(folder: str | Path) -> str:
    """Cheap identity of a model folder: names, sizes and mtimes of its files."""
    folder = Path(folder)
    if not folder.is_dir():
        return str(folder)  # a hub id: its name is its identity
    stats = sorted((p.name, p.stat().st_size, int(p.stat().st_mtime)) for p in folder.iterdir() if p.is_file())
    return fingerprint(stats)


def library_versions() -> dict:
    import importlib.metadata as md

    versions = {"python": sys.version.split()[0], "platform": platform.platform()}
    for package in ("torch", "transformers", "accelerate", "datasets", "peft", "deepspeed"):
        try:
            versions[package] = md.version(package)
        except md.PackageNotFoundError:
            versions[package] = None
    return versions


def setup_logging(level: int = logging.INFO) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    for noisy in ("httpx", "urllib3", "filelock"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def exit_cleanly_on_user_error(task):
    """Wrap a Hydra task: a UserError becomes one clear line on stderr and exit code 1.

    It must wrap the task itself, because Hydra turns exceptions escaping the task into a
    traceback dump.
    """

    @functools.wraps(task)
    def wrapped(*args, **kwargs):
        try:
            return task(*args, **kwargs)
        except UserError as err:
            print(f"error: {err}", file=sys.stderr)
            sys.exit(1)

    return wrapped
