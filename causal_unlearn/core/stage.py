"""Fingerprints of a stage's inputs, and the one rule for skipping a stage.

Every stage (finetune, teacher, forget, evaluation, attacks, the MSJ shot pool) computes a
fingerprint of what its outputs depend on and stores it in a JSON record beside them, under the
key "fingerprint". A rerun whose fingerprint matches the stored one skips the stage; a missing,
damaged or different record means the stage runs again. The record is written last and
atomically, so an interrupted stage never looks complete.
"""

import hashlib
import json
from pathlib import Path

from causal_unlearn.core.files import atomic_write_json


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


def read_record(path: str | Path) -> dict | None:
    """A stage's JSON record, or None when it is missing or damaged (a damaged one is recomputed)."""
    try:
        record = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def is_current(path: str | Path, wanted: str) -> bool:
    """Whether the record at `path` was written for inputs with fingerprint `wanted`."""
    record = read_record(path)
    return record is not None and record.get("fingerprint") == wanted


def write_record(path: str | Path, wanted: str, **content) -> None:
    """Write the record that marks a stage's outputs as made from inputs `wanted` (atomically)."""
    atomic_write_json(path, {"fingerprint": wanted, **content})
