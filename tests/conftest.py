"""Shared fixtures: the repo on sys.path, the tiny random model, the shared data folder."""

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def tiny_family():
    from models import load_family

    return load_family("tiny-random")


@pytest.fixture(scope="session")
def tiny_tokenizer(tiny_family):
    from models import load_tokenizer

    return load_tokenizer(tiny_family)


@pytest.fixture(scope="session")
def tiny_model(tiny_family):
    from models import load_model

    return load_model(tiny_family).eval()


@pytest.fixture(scope="session")
def shared_tofu_dir():
    folder = SHARED_DATA / "tofu"
    if not folder.is_dir():
        pytest.skip("../shared/data/tofu is not present")
    return folder


def run_cli(*args, cwd=REPO, env=None):
    """Run a project entry point in a subprocess, as a user would."""
    import subprocess

    merged = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, *args], cwd=cwd, env=merged, capture_output=True, text=True, timeout=900)
