"""Benchmark: the project's compact batched teacher vs a dense reference-style teacher.

Both paths build the teacher for the same chunks with the same model. The dense path does what
the original code did: one edited text per forward pass, the full-vocabulary float32
distribution at every position kept in memory and on disk. Each (path, N, chunk length) runs
in its own subprocess, so peak RSS is that configuration's own (with --in-process on a GPU, peak
GPU memory is read per configuration instead).

    .venv/bin/python bench/teacher.py                      # full grid, writes bench/sections/teacher.md
    .venv/bin/python bench/teacher.py --n 5 --lengths 256   # a smaller grid
    .venv/bin/python bench/teacher.py --model-path PATH     # another model (default: the implanted one if cached)
    python bench/teacher.py --in-process                    # one process, model loaded once (GPU; bench/gpu_check.py)

Reported per configuration: positions/s, tokens/s (teacher tokens read per second), peak RSS,
bytes on disk, and for the dense path the KL(dense || compact) per position at several top-k.
"""

import argparse
import json
import logging
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import default_model_path, describe_model  # noqa: E402

TITLE = "Harlan J. Whitcombe"
KS = (8, 32, 64, 128)
logger = logging.getLogger("bench.teacher")


def bench_chunk(tokenizer, length: int) -> str:
    """A chunk of about `length` tokens about the target, from the embedded world's texts."""
    rows = [json.loads(line) for line in (REPO / "data/wpu_mini/implant_documents.json").read_text().splitlines()]
    texts = [row["text"] for row in rows if row["title"] == TITLE]
    words, chunk = " ".join(texts).replace("==", " ").split(), []
    for word in words * 4:
        if len(tokenizer(" ".join(chunk + [word]), add_special_tokens=False)["input_ids"]) > length:
            break
        chunk.append(word)
    return " ".join(chunk)


def load(model_path: str | None):
    import torch

    from causal_unlearn.core.models import load_family, load_model, load_tokenizer

    torch.set_grad_enabled(False)
    family = load_family("smollm2-135m")
    return family, load_tokenizer(family, model_path), load_model(family, model_path).eval()


def run_one(path: str, n: int, length: int, model_path: str | None) -> dict:
    """One configuration in this process (called in a fresh subprocess, so peak RSS is its own)."""
    return measure(path, n, length, *load(model_path))


def measure(path: str, n: int, length: int, family, tokenizer, model, kl: bool = True) -> dict:
    """Build one teacher with one path and time it. On CUDA, peak memory is the GPU's (reset here).
    kl=False skips the (CPU-heavy) fidelity columns of the dense path."""
    import numpy as np
    import torch

    from causal_unlearn.teacher.artifact import TargetChunk, save_artifact
    from causal_unlearn.teacher.chunk_teacher import TeacherSettings, build_chunk_teacher
    from causal_unlearn.teacher.names import name_variants
    from causal_unlearn.teacher.substitutes import generated_names

    cuda = next(model.parameters()).is_cuda
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    chunk = bench_chunk(tokenizer, length)
    substitutes = generated_names(TITLE, n, seed=42, document=chunk)
    settings = TeacherSettings()  # the configs' defaults: top_k 8192, kl_budget 1e-3
    prefix_caches = {}
    if path == "compact":  # teacher.py reads the prompt head once for all chunks: here, before the clock starts
        build_chunk_teacher(model, tokenizer, family, bench_chunk(tokenizer, 16), TITLE, name_variants(TITLE),
                            substitutes[:1], settings, prefix_caches=prefix_caches)
    started = time.perf_counter()
    if path == "compact":
        result = build_chunk_teacher(model, tokenizer, family, chunk, TITLE, name_variants(TITLE), substitutes, settings,
                                     prefix_caches=prefix_caches)
        seconds = time.perf_counter() - started  # the rows are on the CPU by now, so the GPU is done
        positions = len(result.positions)
        with tempfile.TemporaryDirectory() as folder:  # the artifact as teacher.py writes it
            save_artifact(Path(folder) / "a.teacher.safetensors", [TargetChunk(TITLE, TITLE, result)], {})
            disk = (Path(folder) / "a.teacher.safetensors").stat().st_size
        extra = {"kept_mean": float(result.kept.mean()),
                 "work_ratio": work_ratio(model, tokenizer, family, chunk, substitutes, positions)}
    else:
        dense, positions = dense_teacher(model, tokenizer, family, chunk, substitutes, settings)
        seconds = time.perf_counter() - started
        with tempfile.TemporaryDirectory() as folder:
            np.save(Path(folder) / "dense.npy", dense)
            disk = (Path(folder) / "dense.npy").stat().st_size
        extra = {}
        if kl:
            extra = {f"kl_k{k}": kl_to_compact(dense, k, 0.0) for k in KS}
            extra["kl_default"] = kl_to_compact(dense, settings.top_k, settings.kl_budget)
    if cuda:
        extra["peak_gpu_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    teacher_tokens = n * (len(tokenizer(chunk, add_special_tokens=False)["input_ids"]) + 40)
    return {"path": path, "N": n, "length": length, "seconds": round(seconds, 2), "positions": positions,
            "tokens_per_s": round(teacher_tokens / seconds, 1), "peak_rss_mb": round(peak_rss_mb(), 1),
            "disk_bytes": int(disk), **extra}


def dense_teacher(model, tokenizer, family, chunk, substitutes, settings):
    """Reference-style: one forward per edited text, full float32 softmax kept for every position."""
    import numpy as np
    import torch

    from causal_unlearn.teacher.alignment import align, encode
    from causal_unlearn.teacher.chunk_teacher import prompt_for

    student = encode(tokenizer, prompt_for(family, tokenizer, TITLE, True), chunk)
    kept = []
    for teacher, edits in edited_texts(tokenizer, family, chunk, substitutes):
        ids = torch.tensor([teacher.ids], device=model.device)
        probs = torch.softmax(model(ids).logits[0].float(), -1).cpu().numpy()
        kept.append((align(student, teacher, edits), probs))
    common = sorted(set.intersection(*(set(pairs) for pairs, _ in kept)))
    stacked = np.stack([probs[[pairs[p] for p in common]] for pairs, probs in kept])
    return stacked.mean(0).astype(np.float32), len(common)


def edited_texts(tokenizer, family, chunk, substitutes):
    """Each substitute's edited chunk, encoded after its counterfactual prompt, with its edit spans."""
    from causal_unlearn.teacher.alignment import encode
    from causal_unlearn.teacher.chunk_teacher import chunk_mentions, edited_versions, prompt_for
    from causal_unlearn.teacher.names import name_variants

    mentions = chunk_mentions(chunk, TITLE, name_variants(TITLE), {})
    for version in edited_versions(chunk, TITLE, substitutes, mentions):
        yield encode(tokenizer, prompt_for(family, tokenizer, version.substitute, True), version.text), version.edits


def work_ratio(model, tokenizer, family, chunk, substitutes, positions: int) -> float:
    """Multiply-adds of the dense path / the compact path for this chunk (bench/arithmetic.py)."""
    from arithmetic import teacher_work_ratio

    from causal_unlearn.teacher.chunk_teacher import fixed_prompt_prefix

    lengths = [len(encoded.ids) for encoded, _ in edited_texts(tokenizer, family, chunk, substitutes)]
    shared = len(fixed_prompt_prefix(family, tokenizer, None, True))
    return teacher_work_ratio(model.config, lengths, shared, positions)


def kl_to_compact(dense, top_k: int, kl_budget: float) -> float:
    """Mean KL(dense || its compact form at these settings), nats per position."""
    import torch

    from causal_unlearn.teacher.compaction import compact_rows, stored_kl

    return float(stored_kl(dense, *compact_rows(torch.from_numpy(dense), top_k, kl_budget)).mean())


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def report_text(results: list[dict], model_path: str | None, machine: str | None = None) -> str:
    """The markdown section for these results (bench/gpu_check.py embeds it in its own)."""
    gpu = all("peak_gpu_mb" in r for r in results)
    memory, label = ("peak_gpu_mb", "GPU MB") if gpu else ("peak_rss_mb", "RSS MB")
    machine = machine or f"{os.cpu_count()} CPU cores, fp32"
    lines = ["## Teacher: compact batched vs dense reference-style", "",
             f"Model: {describe_model(model_path)}; machine: {machine}; "
             "the default settings (top_k=8192, kl_budget=1e-3, micro_batch=4). Compact bytes: the artifact file. "
             "The compact path reuses the prompt head's KV cache (read before the clock starts, as teacher.py "
             "reads it once per run); the dense path reads every token of every text. Work ratio: the dense "
             "path's multiply-adds / the compact path's (bench/arithmetic.py), the speed ratio both would have "
             "if they ran at the same arithmetic speed.", "",
             f"| N | chunk tokens | compact tok/s | dense tok/s | speed ratio | work ratio | compact {label} | dense {label} | "
             f"{label.split()[0]} ratio | compact bytes | dense bytes | disk ratio | kept tokens/pos | "
             "KL(dense \\|\\| compact) nats/pos |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    by_key = {(r["path"], r["N"], r["length"]): r for r in results}
    for (path, n, length), compact in sorted(by_key.items()):
        dense = by_key.get(("dense", n, length))
        if path != "compact" or dense is None:
            continue
        lines.append(
            f"| {n} | {length} | {compact['tokens_per_s']} | {dense['tokens_per_s']} | "
            f"{compact['tokens_per_s'] / dense['tokens_per_s']:.2f}x | "
            f"{format(compact['work_ratio'], '.2f') + 'x' if 'work_ratio' in compact else '-'} | {compact[memory]} | {dense[memory]} | "
            f"{dense[memory] / compact[memory]:.2f}x | {compact['disk_bytes']} | {dense['disk_bytes']} | "
            f"{dense['disk_bytes'] / compact['disk_bytes']:.0f}x | {compact['kept_mean']:.0f} | "
            f"{format(dense['kl_default'], '.2e') if 'kl_default' in dense else '-'} |")
    with_kl = sorted((r for r in results if r["path"] == "dense" and "kl_k8" in r), key=lambda r: (r["N"], r["length"]))
    if with_kl:
        lines += ["", "For comparison, KL(dense || compact) per position keeping a fixed top-k for every position:", "",
                  "| N | chunk tokens | " + " | ".join(f"k={k}" for k in KS) + " |", "|---|---|" + "---|" * len(KS)]
    for r in with_kl:
        lines.append(f"| {r['N']} | {r['length']} | " + " | ".join(f"{r[f'kl_k{k}']:.2e}" for k in KS) + " |")
    return "\n".join(lines) + "\n"


def write_report(results: list[dict], out: Path, model_path: str | None) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report_text(results, model_path))
    out.with_suffix(".json").write_text(json.dumps(results, indent=1))


def grid(ns: list[int], lengths: list[int]) -> list[tuple[str, int, int]]:
    return [(path, n, length) for n in ns for length in lengths for path in ("compact", "dense")]


def run_in_process(configs, model_path: str | None, kl: bool) -> list[dict]:
    """Every configuration in this process with the model loaded once (for a GPU, where peak memory
    is read from the device per configuration); a first small build warms the kernels up."""
    loaded = load(model_path)
    measure("compact", 1, 64, *loaded, kl=False)
    results = []
    for path, n, length in configs:
        results.append(measure(path, n, length, *loaded, kl=kl))
        logger.info(json.dumps(results[-1]))
    return results


def run_in_subprocesses(configs, model_path: str | None) -> list[dict]:
    results = []
    for path, n, length in configs:
        command = [sys.executable, __file__, "--one", path, str(n), str(length)]
        if model_path:
            command += ["--model-path", model_path]
        output = subprocess.run(command, capture_output=True, text=True, check=True, cwd=REPO).stdout
        results.append(json.loads(output.strip().splitlines()[-1]))
        logger.info(json.dumps(results[-1]))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, nargs="+", default=[1, 5, 20])
    parser.add_argument("--lengths", type=int, nargs="+", default=[64, 256, 512])
    parser.add_argument("--model-path", default=None)
    parser.add_argument("--in-process", action="store_true",
                        help="load the model once and run every configuration in this process (GPU runs)")
    parser.add_argument("--no-kl", action="store_true", help="with --in-process: skip the KL columns (speed only)")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "sections" / "teacher.md")
    parser.add_argument("--one", nargs=3, metavar=("PATH", "N", "LENGTH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    model_path = args.model_path or default_model_path()
    if args.one:
        print(json.dumps(run_one(args.one[0], int(args.one[1]), int(args.one[2]), model_path)))
        return
    configs = grid(args.n, args.lengths)
    if args.in_process:
        results = run_in_process(configs, model_path, kl=not args.no_kl)
    else:
        results = run_in_subprocesses(configs, model_path)
    write_report(results, args.out, model_path)
    logger.info(args.out.read_text())


if __name__ == "__main__":
    main()
