"""The teacher artifact (teacher/artifact.py): ragged rows stored compactly, round trips, tampering."""

import numpy as np

from causal_unlearn.teacher.artifact import ChunkTeacher, TargetChunk, load_artifact, read_meta, save_artifact
from causal_unlearn.teacher.chunk_teacher import TeacherSettings, build_chunk_teacher
from causal_unlearn.teacher.compaction import compact_rows
from causal_unlearn.teacher.names import name_variants
from helpers import model_like_rows as _rows

TITLE = "Harlan J. Whitcombe"
CHUNK = "Harlan J. Whitcombe was a cartographer from Varnholt. Whitcombe's atlas won the Lenmark Prize."


def test_the_artifact_stores_ragged_rows_and_reads_them_back_padded(tmp_path):
    chunks = []
    for seed in (6, 7):
        probs = _rows(seed, count=10)
        ids, values, residual, kept = compact_rows(probs, top_k=200, kl_budget=1e-4, scope="position")
        teacher = ChunkTeacher(f"text {seed}", list(range(12)), np.arange(10, dtype=np.int32), ids, values, residual, kept)
        chunks.append(TargetChunk("Someone", "Someone", teacher))
    path = tmp_path / "t.teacher.safetensors"
    save_artifact(path, chunks, {"N": 1})
    _, loaded = load_artifact(path)
    for original, back in zip(chunks, loaded):
        a, b = original.teacher, back.teacher
        assert np.array_equal(a.kept, b.kept) and np.array_equal(a.topk_ids, b.topk_ids)
        assert np.array_equal(a.topk_probs, b.topk_probs) and np.array_equal(a.residual, b.residual)
    # Stored without padding: the file holds the kept entries, not rows x the widest row.
    stored = sum(int(c.teacher.kept.sum()) for c in chunks)
    padded = sum(c.teacher.topk_ids.size for c in chunks)
    assert stored < padded and path.stat().st_size < 4 * padded  # 2-byte ids + 2-byte probabilities


def test_artifact_round_trips_and_rejects_tampering(tiny_family, tiny_tokenizer, tiny_model, tmp_path):
    result = build_chunk_teacher(tiny_model, tiny_tokenizer, tiny_family, CHUNK, TITLE, name_variants(TITLE),
                                 ["Alfred Barrow"], TeacherSettings(top_k=4))
    path = tmp_path / "a.teacher.safetensors"
    save_artifact(path, [TargetChunk(TITLE, TITLE, result)], {"N": 1})
    meta, chunks = load_artifact(path)
    assert meta == {"N": 1} and chunks[0].teacher.input_ids == result.input_ids and chunks[0].teacher.text == CHUNK
    assert np.array_equal(chunks[0].teacher.topk_ids, result.topk_ids)
    path.write_bytes(path.read_bytes()[:-50])
    assert read_meta(path) is None or read_meta(path) == {"N": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["a.teacher.safetensors"]  # no temp files left
