"""The methods added after the original's (simnpo, dpo, rmu, undial, wga, satimp, ceu) through both
pipelines on the tiny model, as a user runs them: scripts/wpu.sh (every stage, a summary row) and
scripts/tofu.sh (a checkpoint per epoch, each evaluated). Slow: one pipeline run per method."""

import json
import math

import pandas as pd
import pytest

from helpers import TOFU_TINY, run_tofu, run_wpu, tiny_retain_result

NEW_METHODS = ["simnpo", "dpo", "rmu", "undial", "wga", "satimp", "ceu"]
# tiny-random has two layers: RMU steers the last and trains both MLP output projections.
TINY_RMU = ["rmu.layer=1", "rmu.update_layers=[0,1]"]


def tiny_settings(method):
    return TINY_RMU if method == "rmu" else []


@pytest.mark.slow
@pytest.mark.parametrize("method", NEW_METHODS)
def test_wpu_pipeline_runs_every_stage_and_writes_the_summary_row(tmp_path, method):
    result = run_wpu(tmp_path, method, *tiny_settings(method))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for stage in ("forget + evaluation", "attacks and judge"):
        assert f"[wpu] {stage}:" in result.stdout
    for stage in ("many-shot jailbreak", "soft-embedding attack", "judge"):  # attacks.py, one process
        assert f"[attacks] {stage}:" in result.stdout + result.stderr, stage
    row = pd.read_csv(tmp_path / "summary.csv").iloc[0]
    assert row["method"] == method
    assert 0 <= row["Forget ROUGE"] <= 1 and 0 <= row["MSJ attack ROUGE"] <= 1
    run_dir = tmp_path / method / "1_42_forget_2_1"
    done = json.loads((run_dir / "forget_done.json").read_text())
    assert done["losses"] and all(math.isfinite(loss) for loss in done["losses"])
    assert f"forget_loss: {method}" in (run_dir / "config.yaml").read_text()


@pytest.mark.slow
@pytest.mark.parametrize("method", NEW_METHODS)
def test_tofu_pipeline_evaluates_every_checkpoint(tmp_path, shared_tofu_dir, method):
    retain_result = tiny_retain_result(tmp_path / "retain_eval", shared_tofu_dir)
    result = run_tofu("-f", method, "-s", str(tmp_path / "runs"), "-p", "forget01", "-d", str(shared_tofu_dir),
                      "-m", "null", "-r", str(retain_result), "--", *TOFU_TINY,
                      *tiny_settings(method), "num_epochs=2", "batch_size=20", "lr=1e-4", "max_length=64")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    run_dir = tmp_path / "runs" / method / "1_42_forget01"
    assert "retain_strength=1" in result.stdout  # the baselines' retain term
    for checkpoint in ("checkpoint-2", "checkpoint-4"):
        table = pd.read_csv(run_dir / checkpoint / "eval" / "aggregate_stat.csv")
        assert table[["Forget Quality", "Model Utility"]].notna().all().all()
    assert json.loads((run_dir / "best_checkpoint.json").read_text())["best"] in ("checkpoint-2", "checkpoint-4")
