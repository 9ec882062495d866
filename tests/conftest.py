"""Shared fixtures: the repo on sys.path, the tiny random model, the shared data folder."""

import os
import sys
from pathlib import Path

import pytest
import torch

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


def talkative(tiny_model):
    """A copy of tiny-random with large random untied weights: tiny-random itself echoes its last
    token forever, this one says different things and depends on every position."""
    from transformers import AutoModelForCausalLM

    config = tiny_model.config.__class__.from_dict({**tiny_model.config.to_dict(), "initializer_range": 0.5,
                                                    "tie_word_embeddings": False})
    torch.manual_seed(1)
    return AutoModelForCausalLM.from_config(config).eval()


def generate_alone(model, tokenizer, prompt: str, max_new_tokens: int) -> str:
    """The library's own greedy decoding of one prompt: the reference for the batched paths."""
    ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        output = model.generate(ids, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    return tokenizer.decode(output[0, ids.shape[1]:], skip_special_tokens=True).strip()
