"""Name variants, whole-word case-respecting matching, consistent replacement (teacher/names.py)."""

from hypothesis import given, settings
from hypothesis import strategies as st

from causal_unlearn.teacher.names import find_mentions, name_variants, replace_mentions, substitute_for


def test_variants_cover_full_first_last_initials_and_apostrophes():
    variants = name_variants("Harlan J. Whitcombe")
    assert {"Harlan J. Whitcombe", "Harlan Whitcombe", "H. J. Whitcombe", "Whitcombe", "Harlan"} <= set(variants)
    assert variants[0] == "Harlan J. Whitcombe"  # longest first
    assert {"O'Dellan", "O’Dellan"} <= set(name_variants("Cormac O'Dellan"))
    assert {"Zoë", "Zoe", "Zoe Ellingrath"} <= set(name_variants("Zoë Ellingrath"))
    assert {"Oduya-Falkner", "Falkner"} <= set(name_variants("Maren Oduya-Falkner"))


def test_matching_is_whole_word_and_respects_case():
    text = "Wells met Lincoln near the wells; H. G. Wells's book. Lin was there, not Linda."
    found = [text[m.start:m.end] for m in find_mentions(text, name_variants("H. G. Wells"))]
    assert found == ["Wells", "H. G. Wells"]
    found = [text[m.start:m.end] for m in find_mentions(text, name_variants("Mei Lin"))]
    assert found == ["Lin"]


def test_replacement_keeps_possessives_and_follows_the_consistent_name_rule():
    title = "Harlan J. Whitcombe"
    text = "Harlan J. Whitcombe drew maps. Whitcombe's atlas won; Harlan smiled. Whitcombe’s prize."
    edited, edits = replace_mentions(text, find_mentions(text, name_variants(title)), title, "Alfred Barrow")
    assert edited == "Alfred Barrow drew maps. Barrow's atlas won; Alfred smiled. Barrow’s prize."
    for edit in edits:
        assert edited[edit.new_start:edit.new_end] in {"Alfred Barrow", "Barrow", "Alfred"}
    assert substitute_for("Whitcombe", title, "Plato") == "Plato"


def test_works_are_replaced_by_their_alternative():
    text = "She wrote The Silent Harbor in 1990."
    mentions = find_mentions(text, name_variants("Ann Lee"), ["The Silent Harbor"])
    edited, _ = replace_mentions(text, mentions, "Ann Lee", "Bo Chen", {"The Silent Harbor": "The Quiet Dock"})
    assert edited == "She wrote The Quiet Dock in 1990."


# --- property tests: replacement never touches a word that is not the name -------------------

TRICKY_WORDS = ["Wells", "wells", "Wellsford", "Lin", "Lincoln", "lin", "Whitcombe", "Whitcomber", "the", "Harlan",
                "harlan", "Wells's", "Wells’", "O'Dellan", "Dellan", "-Wells", "Wells-", "(Wells)", "Wells.", "swells"]


@settings(max_examples=200, deadline=None)
@given(words=st.lists(st.sampled_from(TRICKY_WORDS), min_size=1, max_size=12),
       title=st.sampled_from(["H. G. Wells", "Mei Lin", "Harlan J. Whitcombe", "Cormac O'Dellan"]))
def test_replacement_changes_only_whole_case_matching_names(words, title):
    import re

    text = " ".join(words)
    mentions = find_mentions(text, name_variants(title))
    edited, edits = replace_mentions(text, mentions, title, "Alfred Barrow")
    for mention in mentions:
        before = text[mention.start - 1] if mention.start else " "
        after = text[mention.end] if mention.end < len(text) else " "
        assert not re.match(r"[\w\-'’]", before) and not re.match(r"[\w\-]", after)
        assert text[mention.start].isupper()  # a lowercase common word is never the name
    # every character outside the edits is unchanged, in order
    kept_original = "".join(text[a:b] for a, b in _gaps([(m.start, m.end) for m in mentions], len(text)))
    kept_edited = "".join(edited[a:b] for a, b in _gaps([(e.new_start, e.new_end) for e in edits], len(edited)))
    assert kept_original == kept_edited


def _gaps(spans, length):
    cursor = 0
    for start, end in sorted(spans):
        yield cursor, start
        cursor = end
    yield cursor, length
