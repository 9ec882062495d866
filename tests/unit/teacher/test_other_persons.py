"""Other persons' names are not the target's (teacher/other_persons.py with names.find_mentions)."""

from causal_unlearn.teacher.names import find_mentions, name_variants
from causal_unlearn.teacher.other_persons import other_person_spans

TITLE = "Maria Lopez-Brandt"


def mentioned(text: str, title: str = TITLE) -> list[str]:
    spans = other_person_spans(text, title)
    return [f"{text[m.start:m.end]}@{m.start}" for m in find_mentions(text, name_variants(title), other_persons=spans)]


def test_a_relative_sharing_half_of_a_double_barrelled_surname_is_left_alone():
    text = "Lopez-Brandt learned the craft from her father Otto Brandt. Brandt later left."
    assert mentioned(text) == ["Lopez-Brandt@0", f"Brandt@{text.rindex('Brandt')}"]


def test_a_namesake_first_name_is_left_alone():
    text = "Her namesake Maria Keller sang. Maria taught glassblowing."
    assert mentioned(text) == [f"Maria@{text.rindex('Maria')}"]


def test_the_targets_own_names_still_count_inside_longer_names_and_possessives():
    text = "Dr. Maria Lopez-Brandt opened a studio. Maria Brandt's kiln was famous."
    found = mentioned(text)
    assert found[0] == f"Maria Lopez-Brandt@{text.index('Maria')}"
    # "Maria Brandt" is made of the target's own words: both count
    assert {f"Maria@{text.rindex('Maria')}", f"Brandt@{text.rindex('Brandt')}"} <= set(found)


def test_a_common_word_that_is_the_surname_stays_out_and_a_run_without_a_given_name_stays_in():
    text = "Dig the wells deep, said Wells. The Wells Prize went to a potter."
    found = mentioned(text, "Harriet Wells")
    assert found == [f"Wells@{text.index('Wells')}", f"Wells@{text.index('Wells Prize')}"]
