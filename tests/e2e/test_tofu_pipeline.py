"""scripts/tofu.sh end to end on the tiny random model and the shared TOFU data: teacher ->
forget with a checkpoint per epoch -> every checkpoint evaluated and aggregated against a retain
result -> best_checkpoint.json; the same command again skips every stage."""

import json

import pandas as pd
import pytest

from helpers import SHARED_DATA, TOFU_TINY, run_tofu, tiny_retain_result

AUTHORS = SHARED_DATA / "reference" / "tofu_author.txt"
@pytest.fixture
def authors_file():
    if not AUTHORS.is_file():
        pytest.skip("../shared/data/reference/tofu_author.txt is not present")
    return AUTHORS


def test_teacher_methods_refuse_to_start_without_an_authors_file(tmp_path, shared_tofu_dir):
    result = run_tofu("-f", "intervention", "-s", str(tmp_path), "-p", "forget01", "-d", str(shared_tofu_dir),
                      "-m", "null", "--", *TOFU_TINY)
    assert result.returncode != 0
    assert "teacher.authors_file" in result.stderr
    assert not (tmp_path / "intervention").exists()


@pytest.mark.slow
def test_tofu_intervention_runs_end_to_end_and_a_rerun_skips(tmp_path, shared_tofu_dir, authors_file):
    retain_result = tiny_retain_result(tmp_path / "retain_eval", shared_tofu_dir)

    # 40 forget QA pairs, 20 per step on one process: 2 steps per epoch, 2 epochs -> checkpoint-2, -4.
    command = ["-f", "intervention", "-n", "1", "-s", str(tmp_path / "runs"), "-p", "forget01",
               "-d", str(shared_tofu_dir), "-m", "null", "-r", str(retain_result), "--", *TOFU_TINY,
               f"teacher.authors_file={authors_file}", "num_epochs=2", "batch_size=20", "lr=1e-4"]
    first = run_tofu(*command)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    run_dir = tmp_path / "runs" / "intervention" / "1_42_forget01"
    assert "save_steps=2" in first.stdout
    checkpoints = sorted(p.name for p in run_dir.glob("checkpoint-*"))
    assert checkpoints == ["checkpoint-2", "checkpoint-4"]
    for name in checkpoints:
        assert (run_dir / name / "model.safetensors").is_file()
        table = pd.read_csv(run_dir / name / "eval" / "aggregate_stat.csv")
        assert {"Forget Quality", "Model Utility"} <= set(table.columns)
        assert table[["Forget Quality", "Model Utility"]].notna().all().all()
    best = json.loads((run_dir / "best_checkpoint.json").read_text())
    assert best["best"] in checkpoints and set(best["rows"]) == set(checkpoints)
    assert (run_dir / "report.md").is_file()
    assert "[tofu] best " in first.stdout

    watched = [run_dir / "forget_done.json", *run_dir.glob("checkpoint-*/model.safetensors"),
               *run_dir.glob("checkpoint-*/eval/eval_log_aggregated.json")]
    before = {path: path.stat().st_mtime_ns for path in watched}
    again = run_tofu(*command)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert "is up to date; skipping" in again.stdout  # the teacher artifact
    assert "is complete for this configuration; skipping" in again.stdout  # forget.py
    assert again.stdout.count("are up to date; skipping") == len(checkpoints)  # each checkpoint's eval
    assert {path: path.stat().st_mtime_ns for path in watched} == before
