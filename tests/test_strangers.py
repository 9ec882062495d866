"""The stranger-names eval task: the forget QA asked about never-seen names."""

import json

from conftest import run_cli
from strangers import NAMES_PER_TARGET, stranger_rows
from substitutes import generated_names

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


def test_eval_task_and_columns(tmp_path):
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
