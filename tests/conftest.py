"""Fixtures: the tiny random model and the shared data folder; offline environment defaults.

Helpers live in tests/helpers.py (`import helpers`); nothing imports this file.
"""

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from helpers import SHARED_DATA  # noqa: E402


@pytest.fixture(scope="session")
def tiny_family():
    from causal_unlearn.core.models import load_family

    return load_family("tiny-random")


@pytest.fixture(scope="session")
def tiny_tokenizer(tiny_family):
    from causal_unlearn.core.models import load_tokenizer

    return load_tokenizer(tiny_family)


@pytest.fixture(scope="session")
def tiny_model(tiny_family):
    from causal_unlearn.core.models import load_model

    return load_model(tiny_family).eval()


@pytest.fixture(scope="session")
def shared_tofu_dir():
    folder = SHARED_DATA / "tofu"
    if not folder.is_dir():
        pytest.skip("../shared/data/tofu is not present")
    return folder
