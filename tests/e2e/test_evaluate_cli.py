"""evaluate_util.py and aggregate_wpu.py as a user runs them: the original log schema, the skip
when up to date, the optional stranger-names task, and bad input refused in one clear line."""

import json

from causal_unlearn.eval.strangers import NAMES_PER_TARGET
from helpers import run_cli


def test_evaluate_cli_writes_original_schema_and_skips_when_up_to_date(tmp_path):
    args = ["evaluate_util.py", "model_family=tiny-random", f"eval.save_dir={tmp_path}", "eval.generation.max_new_tokens=4",
            "eval.ds_size=3"]
    first = run_cli(*args)
    assert first.returncode == 0, first.stderr[-2000:]
    aggregated = json.loads((tmp_path / "eval_log_aggregated.json").read_text())
    assert sorted(aggregated) == ["eval_log_forget.json", "eval_log_general_retain.json", "eval_log_hard_retain.json"]
    forget = aggregated["eval_log_forget.json"]
    assert {"avg_gt_loss", "gt_loss", "num_token_gt", "generated_text", "rouge1_recall", "rougeL_recall", "truth_ratio",
            "average_perturb_loss", "avg_paraphrased_loss"} <= set(forget)
    assert len(forget["generated_text"]["0"]) == 3 and len(forget["rougeL_recall"]) == 3
    second = run_cli(*args)
    assert second.returncode == 0 and "up to date" in second.stdout + second.stderr
    result = run_cli("aggregate_wpu.py", "--eval-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "aggregate_stat.csv").is_file()


def test_evaluate_cli_unknown_split_is_one_line(tmp_path):
    result = run_cli("evaluate_util.py", "model_family=tiny-random", "split=forget_9_9", f"eval.save_dir={tmp_path}")
    assert result.returncode == 1
    assert "Unknown split 'forget_9_9'" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "eval_log_aggregated.json").exists()


def test_a_folder_that_is_not_a_model_is_one_clear_line(tmp_path):
    (tmp_path / "notes.txt").write_text("not a model")
    result = run_cli("evaluate_util.py", "model_family=tiny-random", f"model_path={tmp_path}", f"eval.save_dir={tmp_path / 'out'}")
    assert result.returncode == 1 and "Could not load model weights" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out" / "eval_log_aggregated.json").exists()


def test_a_split_without_rows_is_refused(tmp_path):
    for name in ("forget_x", "forget_x_hard_retain", "general_retain"):
        (tmp_path / f"{name}.json").write_text("")
    result = run_cli("evaluate_util.py", "model_family=tiny-random", f"data_path={tmp_path}", "split=forget_x",
                     f"eval.save_dir={tmp_path / 'out'}")
    assert result.returncode == 1 and "is empty" in result.stderr


def test_unknown_family_on_the_command_line_is_one_clear_line(tmp_path):
    result = run_cli("evaluate_util.py", "model_family=gpt-9", f"eval.save_dir={tmp_path}")
    assert result.returncode == 1
    assert result.stderr.strip().startswith("error: Unknown model_family 'gpt-9'")
    assert "Traceback" not in result.stderr


def test_eval_task_and_columns(tmp_path):
    """The stranger-names task: the forget QA asked about never-seen names, with its own columns."""
    out = tmp_path / "eval"
    result = run_cli("evaluate_util.py", "model_family=tiny-random", "forget_loss=none", f"eval.save_dir={out}",
                     "eval.stranger_names=true", "eval.generation.max_new_tokens=4", "eval.ds_size=4")
    assert result.returncode == 0, result.stderr[-2000:]
    log = json.loads((out / "eval_log_strangers.json").read_text())
    prompts = [prompt for prompt, _, _ in log["generated_text"].values()]
    assert len(prompts) == NAMES_PER_TARGET * 4 and not any("Whitcombe" in p for p in prompts)
    aggregate = run_cli("aggregate_wpu.py", "--eval-dir", str(out))
    assert aggregate.returncode == 0, aggregate.stderr[-2000:]
    header = (out / "aggregate_stat.csv").read_text().splitlines()[0]
    assert "Stranger ROUGE" in header and "Stranger Probability" in header
