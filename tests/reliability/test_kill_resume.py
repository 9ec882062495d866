"""kill -9 at a stage, then the same command again: the run completes, aggregate_stat.csv equals
the uninterrupted run's (same seed, CPU), and no output is ever half-written."""

import shutil

import pytest

from helpers import (ARTIFACT, RUN, TINY, assert_outputs_complete_or_absent, assert_same_csv, assert_same_training,
                     incomplete_checkpoints, kill_when, log_contains, reference_run, run_to_end, start)

FINAL_CSV = RUN / "checkpoint-4" / "aggregate_stat.csv"


def teacher_cmd(root):
    return ["teacher.py", *TINY, f"save_dir_root={root}"]


def forget_cmd(root):
    return ["forget.py", *TINY, f"save_dir_root={root}"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run: teacher, then forget with its in-process evaluation."""
    root = reference_run(tmp_path_factory)
    assert (root / FINAL_CSV).is_file()
    return root


def with_reference_teacher(reference, root):
    """A fresh output root holding a copy of the reference teacher artifact."""
    (root / ARTIFACT).parent.mkdir(parents=True)
    shutil.copy2(reference / ARTIFACT, root / ARTIFACT)
    return root


def test_teacher_killed_then_forget_killed_after_a_checkpoint(reference, tmp_path):
    """One chain: teacher.py killed mid-build and rerun, then forget.py killed once checkpoint-2
    is complete and rerun. Each stage must match the uninterrupted run."""
    process, log = start(tmp_path / "logs", *teacher_cmd(tmp_path))
    # The first of the two targets is done: the build is half way.
    kill_when(process, log, log_contains(log, "teacher targets:  50%"), "the first teacher target")
    assert not (tmp_path / ARTIFACT).exists()
    assert_outputs_complete_or_absent(tmp_path)
    run_to_end(tmp_path / "logs", *teacher_cmd(tmp_path))
    assert (tmp_path / ARTIFACT).read_bytes() == (reference / ARTIFACT).read_bytes()
    assert not [p.name for p in (tmp_path / ARTIFACT).parent.iterdir() if p.name.startswith(".")]  # no temp files

    run = tmp_path / RUN
    process, log = start(tmp_path / "logs", *forget_cmd(tmp_path))
    kill_when(process, log, lambda: (run / "checkpoint-2" / "trainer_state.json").is_file(), "checkpoint-2")
    assert not (run / "forget_done.json").exists() and not (tmp_path / FINAL_CSV).exists()
    assert_outputs_complete_or_absent(tmp_path, allow_incomplete_checkpoints=True)
    assert "Resuming from" in run_to_end(tmp_path / "logs", *forget_cmd(tmp_path))
    assert_same_csv(tmp_path / FINAL_CSV, reference / FINAL_CSV)
    assert_same_training(run, reference / RUN)
    assert_outputs_complete_or_absent(tmp_path)


# Other moments to kill forget.py (after checkpoint-2 is complete: the test above): after step 1,
# before any checkpoint; as soon as checkpoint-4 (the last) starts being written; during the
# evaluation that follows training.
KILL_POINTS = {
    "before_any_checkpoint": lambda run, log: log_contains(log, "{'loss'"),
    "while_saving_checkpoint_4": lambda run, log: lambda: (run / "checkpoint-4").is_dir(),
    "during_evaluation": lambda run, log: lambda: (run / "checkpoint-4" / "eval_log_forget.json").is_file(),
}


@pytest.mark.parametrize("moment", [
    pytest.param("before_any_checkpoint", marks=pytest.mark.slow),
    "while_saving_checkpoint_4",
    pytest.param("during_evaluation", marks=pytest.mark.slow),
])
def test_forget_killed_then_rerun(reference, tmp_path, moment):
    root = with_reference_teacher(reference, tmp_path)
    run = root / RUN
    process, log = start(root / "logs", *forget_cmd(root))
    kill_when(process, log, KILL_POINTS[moment](run, log), moment)
    assert not (run / "forget_done.json").exists()
    assert not (root / FINAL_CSV).exists()
    if moment == "before_any_checkpoint":
        assert not list(run.glob("checkpoint-*")), "the kill came too late for this case"
    cut_off = incomplete_checkpoints(run)
    assert_outputs_complete_or_absent(root, allow_incomplete_checkpoints=True)

    output = run_to_end(root / "logs", *forget_cmd(root))
    if moment != "before_any_checkpoint":
        assert "Resuming from" in output
    if cut_off:  # killed mid-save (the usual outcome for while_saving_checkpoint_4): dropped, not resumed from
        assert "the run was killed while saving it" in output and "checkpoint-2" in output.split("Resuming from")[1]
    assert_same_csv(root / FINAL_CSV, reference / FINAL_CSV)
    assert_same_training(run, reference / RUN)
    assert_outputs_complete_or_absent(root)


def test_evaluation_killed_then_rerun(reference, tmp_path):
    """evaluate_util.py on the reference model, killed after its first task; aggregate_wpu.py then
    gives the same aggregate_stat.csv as forget.py's own uninterrupted evaluation of that model."""
    eval_dir = tmp_path / "eval"
    command = ["evaluate_util.py", *TINY, f"model_path={reference / RUN}", f"eval.save_dir={eval_dir}"]
    process, log = start(tmp_path / "logs", *command)
    kill_when(process, log, lambda: (eval_dir / "eval_log_forget.json").is_file(), "the first eval log")
    assert not (eval_dir / "eval_log_aggregated.json").exists() and not (eval_dir / "eval_fingerprint.json").exists()
    assert_outputs_complete_or_absent(tmp_path)

    output = run_to_end(tmp_path / "logs", *command)
    assert "up to date" not in output  # the killed run left nothing that passes for finished
    run_to_end(tmp_path / "logs", "aggregate_wpu.py", "--eval-dir", str(eval_dir))
    assert_same_csv(eval_dir / "aggregate_stat.csv", reference / FINAL_CSV)
    assert_outputs_complete_or_absent(tmp_path)
    assert not incomplete_checkpoints(tmp_path)
