"""Benchmark: greedy answers from the float32 model vs its bfloat16 copy (eval.generation.cpu_bf16).

Same model, same prompts (the embedded world's forget, hard-retain and general-retain questions),
the evaluation's batch size, one thread (as each demo worker runs), the two precisions
interleaved `--repeats` times so that load on the machine falls on both alike. Reports the speed-up
and what the copy changes: answers that differ from float32's, and the mean ROUGE-L recall of each.

    .venv/bin/python bench/decode_dtype.py [--model-path PATH] [--out bench/sections/decode_dtype.md]
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
from eval_generation import SPLITS, generated_tokens  # noqa: E402


def measure(model_path, repeats: int, max_new_tokens: int, batch_size: int) -> dict:
    import torch

    from causal_unlearn.core.data import load_split
    from causal_unlearn.core.models import cpu_computes_bf16, decoding_model, load_family, load_model, load_tokenizer
    from causal_unlearn.core.prompts import question_prompt
    from causal_unlearn.eval.decoding import generate_answers
    from causal_unlearn.eval.rouge import rouge_recalls

    torch.set_num_threads(1)
    torch.set_grad_enabled(False)
    family = load_family("smollm2-135m")
    tokenizer, model = load_tokenizer(family, model_path), load_model(family, model_path).eval()
    rows = [row for split in SPLITS for row in load_split(str(REPO / "data/wpu_mini"), split)]
    prompts = [question_prompt(family, tokenizer, row["question"]) for row in rows]
    models = {"float32": model, "bfloat16": decoding_model(model, True)}
    seconds = {name: [] for name in models}
    answers = {}
    for _ in range(repeats):
        for name, decoder in models.items():
            started = time.perf_counter()
            answers[name] = generate_answers(decoder, tokenizer, prompts, max_new_tokens, batch_size)
            seconds[name].append(time.perf_counter() - started)
    golds = [row["answer"] for row in rows]
    result = {"questions": len(rows), "batch_size": batch_size, "repeats": repeats, "native_bf16": cpu_computes_bf16(),
              "differing_answers": sum(a != b for a, b in zip(answers["float32"], answers["bfloat16"]))}
    for name in models:
        best = min(seconds[name])
        recalls = [score["rougeL_recall"] for score in rouge_recalls(golds, answers[name])]
        result[name] = {"seconds": round(best, 2), "tokens_per_s": round(generated_tokens(tokenizer, answers[name]) / best, 1),
                        "mean_rougeL_recall": round(sum(recalls) / len(recalls), 4)}
    result["speedup"] = round(result["float32"]["seconds"] / result["bfloat16"]["seconds"], 2)
    return result


def write_report(result: dict, out: Path, model_path, max_new_tokens: int) -> None:
    lines = ["## Evaluation: greedy answers in float32 vs a bfloat16 copy", "",
             f"Model: {describe_model(model_path)}; 1 thread of {os.cpu_count()} CPU cores (bf16 in hardware: "
             f"{'yes' if result['native_bf16'] else 'no'}); {result['questions']} questions at batch "
             f"{result['batch_size']}, at most {max_new_tokens} new tokens; best of {result['repeats']} interleaved runs.", "",
             "| precision | seconds | tokens/s | mean ROUGE-L recall |", "|---|---|---|---|"]
    lines += [f"| {name} | {result[name]['seconds']} | {result[name]['tokens_per_s']} | {result[name]['mean_rougeL_recall']} |"
              for name in ("float32", "bfloat16")]
    lines += ["", f"Speed-up {result['speedup']}x; {result['differing_answers']} of {result['questions']} answers differ "
              f"from float32's."]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    out.with_suffix(".json").write_text(json.dumps(result, indent=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-path", default=None)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=16, help="forget_mini.yaml's eval.batch_size")
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "sections" / "decode_dtype.md")
    args = parser.parse_args()
    model_path = args.model_path or default_model_path()
    result = measure(model_path, args.repeats, args.max_new_tokens, args.batch_size)
    write_report(result, args.out, model_path, args.max_new_tokens)
    print(args.out.read_text())


if __name__ == "__main__":
    main()
