"""teacher.py as a user runs it: builds, skips when up to date and rebuilds when inputs change, is
reproducible, names the WHP artifact, reads TOFU's reference files, and refuses documents that
never name their target or are empty."""

import json

import numpy as np

from causal_unlearn.teacher.artifact import load_artifact
from helpers import run_cli


def _teacher_cli(tmp_path, *extra):
    return run_cli("teacher.py", "model_family=tiny-random", f"save_dir_root={tmp_path}", "teacher.N=2", *extra)


def test_teacher_cli_builds_skips_and_rebuilds_when_inputs_change(tmp_path):
    first = _teacher_cli(tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    path = tmp_path / "tiny-random" / "intervention" / "forget_2_1_2_True_True.teacher.safetensors"
    meta, chunks = load_artifact(path)
    assert meta["N"] == 2 and len(meta["substitutes"]["Zoë Ellingrath"]) == 2 and len(chunks) >= 4
    assert {c.target for c in chunks} == {"Harlan J. Whitcombe", "Zoë Ellingrath"}
    again = _teacher_cli(tmp_path)
    assert "up to date" in again.stdout + again.stderr
    changed = _teacher_cli(tmp_path, "teacher.top_k=8", "teacher.kl_budget=0")
    assert "up to date" not in changed.stdout + changed.stderr
    assert load_artifact(path)[1][0].teacher.topk_ids.shape[1] == 8


def test_whp_artifact_name_and_n_check(tmp_path):
    bad = _teacher_cli(tmp_path, "forget_loss=whp", "teacher.whp_baseline=true")
    assert bad.returncode == 1 and "teacher.N=1" in bad.stderr
    good = run_cli("teacher.py", "model_family=tiny-random", f"save_dir_root={tmp_path}", "teacher.N=1",
                   "forget_loss=whp", "teacher.whp_baseline=true")
    assert good.returncode == 0, good.stderr[-2000:]
    assert (tmp_path / "tiny-random" / "whp" / "forget_2_1_whp.teacher.safetensors").is_file()


def test_document_without_the_name_is_refused(tmp_path):
    rows = [{"title": "Ada Quill", "wikipage": "A town with a river and a mill. It grew fast in the last century.",
             "question": "q", "answer": "a"}]
    (tmp_path / "forget_x.json").write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = _teacher_cli(tmp_path, f"data_path={tmp_path}", "split=forget_x")
    assert result.returncode == 1 and "never mentions the name" in result.stderr
    assert not list(tmp_path.rglob("*.safetensors"))


def test_tofu_forget01_with_shared_reference_files(tmp_path, shared_tofu_dir):
    reference = shared_tofu_dir.parent / "reference"
    result = _teacher_cli(tmp_path, f"data_path={shared_tofu_dir}", "split=forget01", "input_type=question",
                          "sentence_chunk=-1", "teacher.counter_fact_prompt=false",
                          f"teacher.authors_file={reference / 'tofu_author.txt'}",
                          f"teacher.replace_names={reference / 'replace_name_forget10.json'}",
                          f"teacher.replace_book_names={reference / 'replace_book_names.json'}")
    assert result.returncode == 0, result.stderr[-2000:]
    meta, chunks = load_artifact(tmp_path / "tiny-random" / "intervention" / "forget01_2_False_True.teacher.safetensors")
    assert len(chunks) == 40 and len({c.target for c in chunks}) == 2
    assert all(c.key != c.target for c in chunks)  # TOFU chunks are keyed by question


def test_same_seed_gives_the_identical_artifact(tmp_path):
    for folder in ("a", "b"):
        result = _teacher_cli(tmp_path / folder)
        assert result.returncode == 0, result.stderr[-2000:]
    name = "tiny-random/intervention/forget_2_1_2_True_True.teacher.safetensors"
    assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    meta, chunks = load_artifact(tmp_path / "a" / name)
    for chunk in chunks:  # rows are distributions: top-k mass + residual = 1
        assert np.allclose(chunk.teacher.topk_probs.sum(-1) + chunk.teacher.residual, 1.0, atol=1e-5)


def test_empty_document_is_refused(tmp_path):
    rows = [{"title": "Ada Quill", "wikipage": "   ", "question": "q", "answer": "a"}]
    (tmp_path / "forget_x.json").write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = _teacher_cli(tmp_path, f"data_path={tmp_path}", "split=forget_x")
    assert result.returncode == 1 and "is empty" in result.stderr and "Traceback" not in result.stderr


def test_preview_shows_every_edited_text_and_leaves_a_relatives_name_alone(tmp_path):
    article = ("Maria Lopez-Brandt (born 1931) is a glassblower from Tessaly. Lopez-Brandt learned the craft "
               "from her father Otto Brandt, who ran a furnace by the river. Her namesake Maria Keller sang in "
               "the town choir. Maria Lopez-Brandt opened her own studio in 1960 and taught there for years.")
    rows = [{"title": "Maria Lopez-Brandt", "wikipage": article, "question": "q", "answer": "a"}]
    data = tmp_path / "data"
    data.mkdir()
    (data / "forget_x.json").write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = _teacher_cli(tmp_path, f"data_path={data}", "split=forget_x", "teacher.N=3")
    assert result.returncode == 0, result.stderr[-2000:]
    preview = json.loads((tmp_path / "tiny-random" / "intervention" / "forget_x_3_True_True.preview.json").read_text())
    chunks = {entry["chunk"] for entry in preview}
    assert len(preview) == 3 * len(chunks) and {entry["title"] for entry in preview} == {"Maria Lopez-Brandt"}
    with_relatives = [entry for entry in preview if "father" in entry["text"]]
    assert len(with_relatives) == 3  # one chunk, once per substitute
    for entry in with_relatives:
        assert "Otto Brandt" in entry["text"] and "Maria Keller" in entry["text"]  # other persons untouched
        assert "Lopez-Brandt" not in entry["text"] and entry["substitute"].split()[-1] in entry["text"]
