"""Measure which general-knowledge candidates the base model already answers, and keep those.

General-retain QA should test knowledge the model had before any implant or unlearning, so the
world keeps only candidates on which base SmolLM2-135M-Instruct scores ROUGE-L recall >= 0.8
(greedy answers, the same generation settings as evaluation). Writes general_retain_kept.txt
(one question per line) and regenerates the world.

    python data/wpu_mini/measure_general_retain.py
"""

import logging
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from causal_unlearn.core.data import load_split  # noqa: E402
from causal_unlearn.core.files import atomic_write_text  # noqa: E402
from causal_unlearn.core.models import load_family, load_model, load_tokenizer  # noqa: E402
from causal_unlearn.core.prompts import question_prompt  # noqa: E402
from causal_unlearn.core.runtime import setup_logging  # noqa: E402
from causal_unlearn.eval.decoding import generate_answers  # noqa: E402
from causal_unlearn.eval.rouge import rouge_recalls  # noqa: E402

THRESHOLD = 0.8
MAX_NEW_TOKENS = 48  # matches config/forget_mini.yaml eval.generation.max_new_tokens
logger = logging.getLogger("measure_general_retain")


def main() -> None:
    setup_logging()
    family = load_family("smollm2-135m")
    model, tokenizer = load_model(family).eval(), load_tokenizer(family)
    rows = load_split(str(HERE), "general_retain_candidates")
    prompts = [question_prompt(family, tokenizer, row["question"]) for row in rows]
    answers = generate_answers(model, tokenizer, prompts, MAX_NEW_TOKENS, batch_size=16)
    scores = rouge_recalls([row["answer"] for row in rows], answers)
    kept = [row["question"] for row, score in zip(rows, scores) if score["rougeL_recall"] >= THRESHOLD]
    logger.info("Base model answers %d of %d candidates (ROUGE-L recall >= %.1f)", len(kept), len(rows), THRESHOLD)
    atomic_write_text(HERE / "general_retain_kept.txt", "".join(question + "\n" for question in kept))
    subprocess.run([sys.executable, str(HERE / "generate_world.py")], check=True)


if __name__ == "__main__":
    main()
