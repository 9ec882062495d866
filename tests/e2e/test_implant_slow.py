"""The knowledge implant of the embedded world works (slow: the whole demo on two splits, ~35-45 minutes
on 2 CPU cores).

Runs the README's demo end to end into a temporary folder and checks the acceptance numbers:
the implanted model answers the world's forget and hard-retain QA (ROUGE-L recall >= 0.8) and
keeps >= 0.85 of the base model's general-retain score.
"""

import subprocess

import pandas as pd
import pytest

from helpers import REPO


@pytest.mark.slow
def test_demo_implants_the_world(tmp_path):
    result = subprocess.run(["bash", "scripts/demo.sh", "-o", str(tmp_path), "forget_2_1", "forget_2_2"], cwd=REPO,
                            capture_output=True, text=True, timeout=3600)
    assert result.returncode == 0, result.stderr[-3000:]
    table = pd.read_csv(tmp_path / "summary.csv").set_index(["method", "split"])
    for split in ("forget_2_1", "forget_2_2"):
        base, implanted = table.loc[("base", split)], table.loc[("implanted", split)]
        assert implanted["Forget ROUGE"] >= 0.8 and implanted["Hard Retain ROUGE"] >= 0.8
        assert base["Forget ROUGE"] < 0.5  # the base model cannot know the fictitious world
        assert implanted["General Retain ROUGE"] >= 0.85 * base["General Retain ROUGE"]
