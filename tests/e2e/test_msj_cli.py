"""msj_attack.py, the many-shot jailbreak, as a user runs it: attacks, scores, skips a rerun, builds
and caches its shot pool, and refuses what does not fit."""

import json

import pandas as pd

from causal_unlearn.core.data import load_split
from helpers import run_cli

# Every question of the pool's splits (config/base.yaml msj.pool_splits), each answered once.
POOL_QUESTIONS = len(load_split("data/wpu_mini", "retain")) + len(load_split("data/wpu_mini", "general_retain"))
SHOTS = [(f"Where did person number {i} work in {1900 + i}?", f"Person number {i} worked at the mill of town {i}, "
          f"where they stayed for {i + 3} years.") for i in range(20)]


def _cli(tmp_path, *overrides):
    return run_cli("msj_attack.py", "model_family=tiny-random", "forget_loss=prompt_baseline",
                   f"eval_dir={tmp_path / 'eval'}", "eval.ds_size=2", "msj.max_new_tokens=4",
                   "eval.generation.max_new_tokens=4", "msj.max_prompt_tokens=300", *overrides)


def test_cli_attacks_scores_and_skips_a_rerun(tmp_path):
    shots_file = tmp_path / "shots.json"
    shots_file.write_text(json.dumps([{"question": q, "answer": a} for q, a in SHOTS[:10]]))
    first = _cli(tmp_path, f"msj.shots_file={shots_file}")
    assert first.returncode == 0, first.stderr[-2000:]
    output = tmp_path / "eval" / "msj_attack_output.json"
    result = json.loads(output.read_text())
    assert len(result["generated_text"]) == 2 and all(len(triple) == 3 for triple in result["generated_text"])
    assert 0.0 <= result["RougeL"] <= 1.0
    # The prompt baseline's system prompt takes room, so not all 10 shots fit in 300 tokens.
    assert all(0 < used < 10 for used in result["num_shots"])
    stats = pd.read_csv(tmp_path / "eval" / "aggregate_stat.csv")
    rouges = ["MSJ attack ROUGE", "MSJ ROUGE (0 shots)", "MSJ ROUGE (4 shots)",
              "MSJ ROUGE (16 shots)", "MSJ stranger ROUGE"]  # config/base.yaml's sweep and the control
    assert stats[rouges].iloc[0].between(0.0, 1.0).all()
    assert -1.0 <= stats["MSJ recovery"].iloc[0] <= 1.0

    written = output.stat().st_mtime_ns
    second = _cli(tmp_path, f"msj.shots_file={shots_file}")
    assert second.returncode == 0, second.stderr[-2000:]
    assert "up to date" in second.stdout + second.stderr
    assert output.stat().st_mtime_ns == written


def test_cli_empty_pool_skips_the_attack_with_one_warning_and_the_pool_cache_is_reused(tmp_path):
    # The random model answers the pool questions with nothing: the attack is skipped, not failed,
    # so a pipeline on a user's own data goes on; the column is written empty.
    skipped = _cli(tmp_path, "msj.pool_min_rouge=1.0")
    assert skipped.returncode == 0, skipped.stderr[-2000:]
    warnings = [line for line in skipped.stdout.splitlines() if "MSJ attack skipped" in line]
    assert len(warnings) == 1 and "'retain', 'general_retain'" in warnings[0] and ">= 1.0" in warnings[0], \
        skipped.stdout[-2000:]
    assert "Traceback" not in skipped.stderr
    assert not (tmp_path / "eval" / "msj_attack_output.json").exists()
    stats = pd.read_csv(tmp_path / "eval" / "aggregate_stat.csv")
    assert stats[["MSJ attack ROUGE", "MSJ ROUGE (0 shots)", "MSJ stranger ROUGE", "MSJ recovery"]].isna().all().all()
    cache = json.loads((tmp_path / "eval" / "msj_shot_pool.json").read_text())
    assert len(cache["items"]) == POOL_QUESTIONS  # every question of retain and general_retain was answered once
    # Another threshold reuses the cached answers instead of generating them again.
    again = _cli(tmp_path, "msj.pool_min_rouge=0.0")
    assert again.returncode == 0 and "reusing the shot pool" in again.stdout, again.stdout[-2000:]
    assert "generate:" not in again.stderr


def test_cli_builds_shots_from_the_pre_unlearning_models_answers(tmp_path):
    # SmolLM2 (a real model) answers every retain question with some text; threshold 0 keeps them all.
    # Small on purpose (3 new tokens, 250-token prompts, one question): a 135M model is slow on a shared CPU.
    result = _cli(tmp_path, "model_family=smollm2-135m", "msj.pool_min_rouge=0.0", "msj.max_new_tokens=3",
                  "eval.generation.max_new_tokens=3", "msj.max_prompt_tokens=250", "msj.batch_size=16",
                  "eval.ds_size=1")
    assert result.returncode == 0, result.stderr[-2000:]
    items = json.loads((tmp_path / "eval" / "msj_shot_pool.json").read_text())["items"]
    assert len(items) == POOL_QUESTIONS and all(item["generated"] for item in items)
    output = json.loads((tmp_path / "eval" / "msj_attack_output.json").read_text())
    assert 0 < output["num_shots"][0] < 16  # shots dropped to fit 250 tokens, some kept


def test_cli_refuses_a_question_larger_than_the_budget(tmp_path):
    shots_file = tmp_path / "shots.json"
    shots_file.write_text(json.dumps([{"question": "Q?", "answer": "A."}]))
    failed = _cli(tmp_path, f"msj.shots_file={shots_file}", "msj.max_prompt_tokens=20")
    assert failed.returncode == 1, failed.stderr[-2000:]
    assert failed.stderr.strip().startswith("error:") and "larger than the context" in failed.stderr
    assert len(failed.stderr.strip().splitlines()) == 1  # refused before any model is loaded
    assert not (tmp_path / "eval" / "msj_attack_output.json").exists()
