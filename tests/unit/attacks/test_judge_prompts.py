"""The judge's prompts (attacks/judge_prompts.py): the rating parser and name masking."""

from causal_unlearn.attacks.judge_prompts import mask_name, parse_rating


def test_parse_rating_accepts_exactly_one_rating_in_range():
    assert parse_rating("Reasoning... [[3]]", range(1, 4)) == 3
    assert parse_rating("[[ 2 ]]", range(1, 4)) == 2
    assert parse_rating("[[2]] or [[3]]", range(1, 4)) is None
    assert parse_rating("[[7]]", range(1, 4)) is None
    assert parse_rating("I rate it 3", range(1, 4)) is None
    assert parse_rating(None, range(1, 4)) is None


def test_mask_name_replaces_full_first_and_last_names():
    text = "Harlan J. Whitcombe drew maps; Harlan liked them and Whitcombe sold them."
    assert mask_name(text, "Harlan J. Whitcombe", "XX") == "XX drew maps; XX liked them and XX sold them."
