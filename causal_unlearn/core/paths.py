"""Where things are: the repository root, paths in configs, output folders."""

import tempfile
from pathlib import Path

from causal_unlearn.core.errors import UserError


def repo_root() -> Path:
    """The folder holding the entry points, config/ and data/ (two levels above this package)."""
    return Path(__file__).resolve().parents[2]


def resolve_repo_path(path: str) -> str:
    """Relative paths in configs mean relative to the repo root (hub ids pass through unchanged)."""
    candidate = Path(path).expanduser()
    if candidate.is_absolute() or candidate.exists():
        return str(candidate)
    in_repo = repo_root() / candidate
    return str(in_repo) if in_repo.exists() else path


def require_writable_dir(folder: str | Path, setting: str) -> None:
    """Create `folder` and check a file can be written in it, so a read-only or impossible output
    path is refused before any work, with the setting to change."""
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
    except OSError as err:
        raise UserError(f"Cannot write to {folder} ({err.strerror or err}); set {setting} to a writable folder.") from None
