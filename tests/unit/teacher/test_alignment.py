"""Token alignment of a chunk with its name-edited copy (teacher/alignment.py)."""

from causal_unlearn.teacher.alignment import align, encode
from causal_unlearn.teacher.chunk_teacher import prompt_for
from causal_unlearn.teacher.names import find_mentions, name_variants, replace_mentions

TITLE = "Harlan J. Whitcombe"
CHUNK = "Harlan J. Whitcombe was a cartographer from Varnholt. Whitcombe's atlas won the Lenmark Prize."


def test_alignment_pairs_identical_text_outside_names(tiny_family, tiny_tokenizer):
    mentions = find_mentions(CHUNK, name_variants(TITLE))
    edited, edits = replace_mentions(CHUNK, mentions, TITLE, "Alfred Barrow")
    student = encode(tiny_tokenizer, prompt_for(tiny_family, tiny_tokenizer, TITLE, True), CHUNK)
    teacher = encode(tiny_tokenizer, prompt_for(tiny_family, tiny_tokenizer, "Alfred Barrow", True), edited)
    pairs = align(student, teacher, edits)
    for s_pos, t_pos in pairs.items():
        assert student.ids[s_pos] == teacher.ids[t_pos]
    aligned_text = "".join(tiny_tokenizer.decode([student.ids[p]]) for p in sorted(pairs) if p >= len(student.ids) - 30)
    assert "cartographer from Varnholt" in aligned_text and "Whit" not in aligned_text
    # the last prompt token is paired: it predicts the chunk's first token in both texts
    assert max(p for p, (s, _) in enumerate(student.offsets) if s < student.content_start) in pairs
