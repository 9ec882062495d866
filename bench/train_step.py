"""Benchmark: cost of an unlearning step against plain fine-tuning, and NPO's memory.

1. Step time, same batch, same model: an intervention step (forward, compact KL at the teacher
   positions, backward, AdamW) vs a plain SFT step (forward, next-token cross-entropy on every
   token, backward, AdamW). Goal: ratio <= 1.25.
2. Peak RSS of NPO training with the reference NLLs precomputed (one model in memory) vs a
   frozen reference copy (two models), each in its own subprocess.

    .venv/bin/python bench/train_step.py [--model-path PATH] [--out bench/sections/train_step.md]
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import default_model_path, describe_model  # noqa: E402

REPEATS = 5


def load(model_path):
    import torch

    from causal_unlearn.core.models import load_family, load_model, load_tokenizer

    family = load_family("smollm2-135m")
    return family, load_tokenizer(family, model_path), load_model(family, model_path, device=torch.device("cpu"))


def teacher_batch(family, tokenizer, model, n_chunks: int = 4) -> dict:
    """A real intervention batch: teacher chunks of the embedded world, collated."""
    import json as _json

    from causal_unlearn.teacher.chunk_teacher import TeacherSettings, build_chunk_teacher
    from causal_unlearn.teacher.chunking import sentence_chunks
    from causal_unlearn.teacher.names import name_variants
    from causal_unlearn.teacher.substitutes import generated_names
    from causal_unlearn.unlearn.collators import UnlearnCollator

    row = _json.loads((REPO / "data/wpu_mini/forget_2_1.json").read_text().splitlines()[0])
    items = []
    for chunk in sentence_chunks(row["wikipage"], 3)[:n_chunks]:
        subs = generated_names(row["title"], 5, 42, chunk)
        t = build_chunk_teacher(model, tokenizer, family, chunk, row["title"], name_variants(row["title"]), subs,
                                TeacherSettings())
        items.append({"input_ids": t.input_ids, "positions": t.positions.tolist(), "topk_ids": t.topk_ids.tolist(),
                      "topk_probs": t.topk_probs.tolist(), "residual": t.residual.tolist()})
    return UnlearnCollator(tokenizer.pad_token_id)(items)["forget"]


def time_steps(model, loss_fns: dict) -> dict[str, float]:
    """Mean seconds of a full step (forward, loss, backward, AdamW) for each loss. The losses take
    turns, step by step, so both see the same machine load; each has its own optimizer."""
    import torch

    optimizers = {name: torch.optim.AdamW(model.parameters(), lr=1e-5) for name in loss_fns}
    timings = {name: [] for name in loss_fns}
    for repeat in range(REPEATS + 1):
        for name, loss_fn in loss_fns.items():
            started = time.perf_counter()
            loss = loss_fn(model)
            loss.backward()
            optimizers[name].step()
            optimizers[name].zero_grad()
            if repeat:  # the first round warms up allocations
                timings[name].append(time.perf_counter() - started)
    return {name: sum(values) / len(values) for name, values in timings.items()}


def step_times(model_path) -> dict:
    import torch

    from causal_unlearn.unlearn.losses import Predictions, mean_token_nll
    from causal_unlearn.unlearn.methods.intervention import Intervention

    torch.manual_seed(0)
    family, tokenizer, model = load(model_path)
    with torch.no_grad():
        batch = teacher_batch(family, tokenizer, model)
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    model.train()
    method = Intervention()
    seconds = time_steps(model, {
        "intervention": lambda m: method.forget_loss(m, batch),
        "sft": lambda m: mean_token_nll(Predictions.of(m(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits,
                                                       labels)),
    })
    intervention, sft = seconds["intervention"], seconds["sft"]
    tokens = int(batch["attention_mask"].sum())
    return {"intervention_s": intervention, "sft_s": sft, "ratio": intervention / sft, "batch_tokens": tokens,
            "chunks": len(batch["input_ids"])}


def current_rss_mb() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class RssSampler:
    """Peak resident memory while a block runs, sampled every 10 ms from /proc."""

    def __enter__(self):
        import threading

        self.peak, self._stop = current_rss_mb(), threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, current_rss_mb())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def npo_peak(model_path, reference: str) -> dict:
    """NPO preparation + steps with the given reference mode; peak RSS of that phase.

    Memory freed while loading is handed back to the OS first (malloc_trim), so a reference
    copy made afterwards shows up as growth instead of silently reusing freed heap.
    """
    import ctypes
    import gc

    from causal_unlearn.core.configs import compose_config
    from causal_unlearn.unlearn.collators import UnlearnCollator
    from causal_unlearn.unlearn.items import ForgetContext
    from causal_unlearn.unlearn.methods.npo import NPO

    cfg = compose_config("forget_mini.yaml", [])  # base.yaml's keys with forget_mini's values
    cfg.npo_reference = reference
    family, tokenizer, model = load(model_path)
    ctx = ForgetContext(cfg, family, tokenizer)
    method = NPO()
    items = method.forget_items(ctx)
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    loaded = current_rss_mb()
    with RssSampler() as sampler:
        method.prepare(model, items, ctx)
        batch = UnlearnCollator(tokenizer.pad_token_id)(items[:1])["forget"]
        model.train()
        seconds = time_steps(model, {"npo": lambda m: method.forget_loss(m, batch)})["npo"]
    return {"reference": reference, "peak_rss_mb": round(sampler.peak, 1), "after_load_mb": round(loaded, 1),
            "step_s": round(seconds, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-path", default=None)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "sections" / "train_step.md")
    parser.add_argument("--npo", choices=["precomputed", "model"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    model_path = args.model_path or default_model_path()
    if args.npo:
        print(json.dumps(npo_peak(model_path, args.npo)))
        return
    steps = step_times(model_path)
    npo = []
    for reference in ("precomputed", "model"):
        command = [sys.executable, __file__, "--npo", reference] + (["--model-path", model_path] if model_path else [])
        npo.append(json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout.splitlines()[-1]))
    lines = ["## Training: unlearning step vs plain fine-tuning step; NPO's memory", "",
             f"Model: {describe_model(model_path)}; {os.cpu_count()} CPU cores, fp32; "
             f"mean of {REPEATS} steps after one warm-up step, the two kinds of step taking turns.", "",
             f"Same batch ({steps['chunks']} teacher chunks, {steps['batch_tokens']} tokens):", "",
             "| step | seconds | ratio to SFT |", "|---|---|---|",
             f"| intervention (compact KL) | {steps['intervention_s']:.3f} | {steps['ratio']:.2f}x |",
             f"| plain SFT (cross-entropy) | {steps['sft_s']:.3f} | 1.00x |", "",
             "NPO, one forget document per step:", "",
             "| reference | RSS after load MB | peak RSS while training MB | step s |", "|---|---|---|---|"]
    lines += [f"| {r['reference']} | {r['after_load_mb']} | {r['peak_rss_mb']} | {r['step_s']} |" for r in npo]
    lines += ["", f"Peak RSS ratio two models / precomputed: {npo[1]['peak_rss_mb'] / npo[0]['peak_rss_mb']:.2f}x"]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    args.out.with_suffix(".json").write_text(json.dumps({"steps": steps, "npo": npo}, indent=1))
    print(args.out.read_text())


if __name__ == "__main__":
    main()
