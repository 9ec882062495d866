"""Benchmark: greedy answer generation at batch 1 vs the evaluation's batch size.

Same model, same prompts (the embedded world's forget, hard-retain and general-retain questions),
the project's own `causal_unlearn.eval.decoding.generate_answers` with the batch size forget_mini.yaml uses.
Tokens/s counts generated tokens up to each answer's end-of-sequence, so padding after a short
answer in a batch is not credited.

    .venv/bin/python bench/eval_generation.py [--model-path PATH] [--out bench/sections/eval_generation.md]
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import default_model_path, describe_model  # noqa: E402

SPLITS = ("forget_2_1", "forget_2_1_hard_retain", "general_retain")


def bench_prompts(family, tokenizer, limit: int) -> list[str]:
    from causal_unlearn.core.data import load_split
    from causal_unlearn.core.prompts import question_prompt

    questions = [row["question"] for split in SPLITS for row in load_split(str(REPO / "data/wpu_mini"), split)]
    return [question_prompt(family, tokenizer, q) for q in questions[:limit]]


def generated_tokens(tokenizer, answers: list[str]) -> int:
    # generate_answers returns the decoded answers up to EOS; re-tokenising counts what was produced.
    return sum(len(tokenizer(a, add_special_tokens=False)["input_ids"]) + 1 for a in answers)


def measure(model_path, batch_sizes: list[int], limit: int, max_new_tokens: int) -> list[dict]:
    import torch

    from causal_unlearn.core.models import load_family, load_model, load_tokenizer
    from causal_unlearn.eval.decoding import generate_answers

    torch.set_grad_enabled(False)
    family = load_family("smollm2-135m")
    tokenizer, model = load_tokenizer(family, model_path), load_model(family, model_path).eval()
    prompts = bench_prompts(family, tokenizer, limit)
    generate_answers(model, tokenizer, prompts[:2], 4, 2)  # warm-up
    rows = []
    for batch_size in batch_sizes:
        started = time.perf_counter()
        answers = generate_answers(model, tokenizer, prompts, max_new_tokens, batch_size)
        seconds = time.perf_counter() - started
        tokens = generated_tokens(tokenizer, answers)
        rows.append({"batch_size": batch_size, "prompts": len(prompts), "seconds": round(seconds, 2),
                     "generated_tokens": tokens, "tokens_per_s": round(tokens / seconds, 1)})
    return rows


def write_report(rows: list[dict], out: Path, model_path, max_new_tokens: int) -> None:
    base = rows[0]["tokens_per_s"]
    lines = ["## Evaluation: greedy generation", "",
             f"Model: {describe_model(model_path)}; {os.cpu_count()} CPU cores, fp32; {rows[0]['prompts']} questions, "
             f"at most {max_new_tokens} new tokens each.", "",
             "| batch size | seconds | generated tokens | tokens/s | speed-up vs batch 1 |", "|---|---|---|---|---|"]
    lines += [f"| {r['batch_size']} | {r['seconds']} | {r['generated_tokens']} | {r['tokens_per_s']} | "
              f"{r['tokens_per_s'] / base:.2f}x |" for r in rows]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    out.with_suffix(".json").write_text(json.dumps(rows, indent=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-path", default=None)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 16], help="first one is the baseline")
    parser.add_argument("--limit", type=int, default=32, help="questions generated at every batch size")
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "sections" / "eval_generation.md")
    args = parser.parse_args()
    model_path = args.model_path or default_model_path()
    rows = measure(model_path, args.batch_sizes, args.limit, args.max_new_tokens)
    write_report(rows, args.out, model_path, args.max_new_tokens)
    print(args.out.read_text())


if __name__ == "__main__":
    main()
