"""scripts/wpu.sh end to end on the tiny model: every stage runs, the summary row holds every
column, and the same command again skips every finished stage."""

import json
import os
import subprocess

import pandas as pd
import pytest

from helpers import REPO, run_wpu

@pytest.fixture(scope="module")
def pipeline_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("wpu")
    first = run_wpu(root, "intervention", "retain_strength=1", "retain_loss=kl")
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    return root, first


def test_every_stage_runs_and_the_summary_row_has_every_column(pipeline_root):
    root, first = pipeline_root
    for stage in ("teacher", "forget + evaluation", "attacks and judge"):
        assert f"[wpu] {stage}:" in first.stdout
    for stage in ("many-shot jailbreak", "soft-embedding attack", "judge"):  # attacks.py, one process
        assert f"[attacks] {stage}:" in first.stdout + first.stderr, stage
    row = pd.read_csv(root / "summary.csv").iloc[0]
    assert (row["method"], row["split"]) == ("intervention", "forget_2_1")
    for column in ("Forget ROUGE", "Hard Retain ROUGE", "General Retain ROUGE", "Other Persons ROUGE", "MSJ attack ROUGE",
                   "Embed Attack ROUGE", "Embed Attack ROUGE (held-out)", "Unique n-grams"):
        assert column in row.index, column
    run_dir = root / "intervention" / "2_42_forget_2_1"
    assert (run_dir / "checkpoint-1" / "msj_attack_output.json").is_file()
    assert (root / "report.md").is_file()


def test_the_same_command_again_skips_finished_stages(pipeline_root):
    root, first = pipeline_root
    again = run_wpu(root, "intervention", "retain_strength=1", "retain_loss=kl")
    assert again.returncode == 0, again.stderr[-3000:]
    log = again.stdout + again.stderr
    assert "is up to date; skipping" in log  # the teacher
    assert "complete for this configuration; skipping" in log  # forget
    assert log.count("up to date") >= 2  # both attacks
    assert len(pd.read_csv(root / "summary.csv")) == 1  # the row is replaced, not duplicated


def test_bring_your_own_target_with_documents_only(tmp_path):
    """A folder whose forget file has only title + wikipage rows is enough for teacher + forget."""
    data = tmp_path / "mydata"
    data.mkdir()
    people = [{"title": "Odile Varenkamp", "wikipage": "Odile Varenkamp (born 1950) is a glassblower from Tessaly. "
               "Varenkamp trained in Murano. She opened her own studio in 1981. Odile's vases are in many museums."}]
    (data / "people.json").write_text("\n".join(json.dumps(row) for row in people) + "\n")
    command = ["bash", "scripts/wpu.sh", "-c", "forget_mini.yaml", "-f", "intervention", "-s", str(tmp_path / "out"),
               "-d", str(data), "-p", "people", "-n", "2", "-g", "", "--", "model_family=tiny-random", "num_epochs=1",
               "max_length=64"]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=900,
                            env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    run_dir = tmp_path / "out" / "intervention" / "2_42_people"
    assert (run_dir / "forget_done.json").is_file() and (run_dir / "model.safetensors").is_file()
    assert "no evaluation" in result.stdout
