"""Shared by the benchmarks: which model they measure by default, and how it is named in reports."""

import os
from pathlib import Path


def default_model_path() -> str | None:
    """The implanted embedded model when it is cached (the demo builds it), else None (base SmolLM2)."""
    cache = Path(os.environ.get("CAUSAL_UNLEARN_CACHE", Path.home() / ".cache" / "causal_unlearn"))
    implanted = cache / "models" / "implanted-wpu_mini"
    return str(implanted) if (implanted / "finetune_done.json").is_file() else None


def describe_model(model_path: str | None) -> str:
    """The model as a report names it: a path relative to the home folder, or the base model."""
    return str(model_path).replace(str(Path.home()), "~") if model_path else "SmolLM2-135M-Instruct (base)"
