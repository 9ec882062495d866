"""The stranger-names eval task (eval/strangers.py): the forget QA asked about never-seen names."""

from causal_unlearn.eval.strangers import NAMES_PER_TARGET, stranger_rows
from causal_unlearn.teacher.substitutes import generated_names

ROWS = [
    {"title": "Harlan J. Whitcombe", "question": "Where was Harlan J. Whitcombe born?",
     "answer": "Harlan J. Whitcombe was born in Varnholt."},
    {"title": "Zoë Ellingrath", "question": "What did Ellingrath study?", "answer": "Botany."},
]


def test_names_are_swapped_everywhere_and_are_not_the_teachers():
    swapped = stranger_rows(ROWS, "question", "answer")
    assert len(swapped) == NAMES_PER_TARGET * len(ROWS)
    for row in swapped:
        text = row["question"] + row["answer"]
        assert "Whitcombe" not in text and "Ellingrath" not in text
        assert row["title"].split()[-1] in row["question"]  # the stranger is named in the question
    assert "Varnholt" in swapped[0]["answer"]  # only the name changes
    teacher_names = set(generated_names("Harlan J. Whitcombe", 20, 42, ROWS[0]["question"] + " " + ROWS[0]["answer"]))
    assert not teacher_names & {row["title"] for row in swapped}
    assert swapped == stranger_rows(ROWS, "question", "answer")  # reproducible
