"""soft_embed_attack.py as a user runs it: it writes the three columns and the per-restart record,
skips a rerun, and refuses a forget split without questions."""

import json

import pandas as pd
import pytest

from causal_unlearn.attacks.soft_embed import BEST_TRAINED_COLUMN, COLUMN, HELD_OUT_COLUMN, PROTOCOL_VERSION
from helpers import run_cli


def test_cli_writes_the_columns_and_the_restarts_and_skips_a_rerun(tmp_path):
    args = ["soft_embed_attack.py", "model_family=tiny-random", "forget_loss=prompt_baseline", f"eval_dir={tmp_path}",
            "eval.ds_size=4", "soft_embed.epochs=2", "soft_embed.restarts=2", "soft_embed.max_new_tokens=4",
            "soft_embed.batch_size=2"]
    first = run_cli(*args)
    assert first.returncode == 0, first.stderr[-3000:]
    output = json.loads((tmp_path / "embedding_attack_output.json").read_text())
    assert len(output["generated_text"]) == 4 and all(len(triple) == 3 for triple in output["generated_text"])
    assert 0 <= output["RougeL"] <= 1 and len(output["restart_rouge"]) == 2
    assert output["RougeL"] >= output["plain"]["RougeL"] and output["protocol_version"] == PROTOCOL_VERSION
    assert all(set(r) >= {"converged", "steps", "final_loss", "RougeL"} for r in output["restarts"])
    assert output["step_cap"] == 2 * 2 and all(0 < r["steps"] <= 4 or r["converged"] for r in output["restarts"])
    assert len(output["held_out"]["generated_text"]) == 2
    table = pd.read_csv(tmp_path / "aggregate_stat.csv")
    assert table[COLUMN][0] == pytest.approx(output["RougeL"])
    assert table[BEST_TRAINED_COLUMN][0] == pytest.approx(max(output["restart_rouge"]))
    assert table[HELD_OUT_COLUMN][0] == pytest.approx(output["held_out"]["RougeL"])

    written = (tmp_path / "embedding_attack_output.json").read_text()
    second = run_cli(*args)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "skipping" in second.stdout + second.stderr
    assert (tmp_path / "embedding_attack_output.json").read_text() == written


def test_cli_refuses_a_forget_split_without_questions(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "forget_x.json").write_text(json.dumps({"title": "A B", "wikipage": "A B was a painter."}) + "\n")
    result = run_cli("soft_embed_attack.py", "model_family=tiny-random", "forget_loss=prompt_baseline",
                     f"data_path={data}", "split=forget_x", f"eval_dir={tmp_path / 'eval'}")
    assert result.returncode == 1
    assert "has no QA rows" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "eval").exists()
