"""Benchmark: the machine's limits, and how close each pipeline stage runs to them.

One process measures both, so the shares compare numbers taken under the same load:

- the matmul peak: the best multiply-add rate of large square matrix products (float32 on a CPU,
  bfloat16 on a GPU), and the memory bandwidth: bytes read plus written per second by a large copy;
- each stage on the implanted model, timed (best of `--repeats` after a warm-up) and its
  multiply-adds counted by torch's FlopCounterMode on the same call (stage_work.py): the teacher
  (a chunk read with N substitutes and compacted), an intervention training step, a plain SFT
  step, the evaluation's answer losses, and greedy decoding at batch 1 and at the evaluation's batch.

Share of the limit: for the compute stages, achieved multiply-adds per second / peak; for decoding,
the time the hardware needs at best (the larger of weight bytes read per decoding step / bandwidth
and multiply-adds / peak) / the time measured. A profile of each stage gives the share of its time
spent in matrix products and the non-matmul operators that take the rest.

    .venv/bin/python bench/limits.py [--model-path PATH] [--repeats 3] [--out bench/sections/limits.md]

On a GPU (bf16 peak, the kernels' device time in the profile; not yet run on one), at 1.7B with a
random-weight model of SmolLM2-1.7B's shape (DIR: SmolLM2's config and tokenizer):
    python bench/gpu_models.py --source DIR --out /tmp/m17 --shape 1.7b
    python bench/limits.py --model-path /tmp/m17 --out bench/sections/limits_gpu_1.7b.md
"""

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import default_model_path, describe_model  # noqa: E402
from summarize import LIMIT_GOALS as GOALS  # noqa: E402  (the goals table's shares, kept in one place)


def best_seconds(fn, repeats: int) -> float:
    """The fastest of `repeats` timed calls after one warm-up call (on a GPU, until its queue is done)."""
    import torch

    def finish():
        if torch.cuda.is_available():
            torch.cuda.synchronize()

    fn()
    times = []
    for _ in range(repeats):
        finish()
        started = time.perf_counter()
        fn()
        finish()
        times.append(time.perf_counter() - started)
    return min(times)


def matmul_peak(device, dtype, sizes=(1024, 2048, 3072), repeats: int = 5) -> dict:
    """Best multiply-adds per second of an n x n x n product over a few sizes (a GPU reaches its
    peak only on products of several thousand: main() passes larger sizes there)."""
    import torch

    best = {"macs_per_s": 0.0}
    for n in sizes:
        a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
        out = torch.empty(n, n, device=device, dtype=dtype)

        rate = n ** 3 / best_seconds(lambda: torch.mm(a, b, out=out), repeats)
        if rate > best["macs_per_s"]:
            best = {"macs_per_s": rate, "n": n}
    return best


def model_shape_rates(config, device, dtype, tokens: int = 1024, repeats: int = 5) -> list[dict]:
    """Multiply-adds per second of the products a forward pass of `tokens` tokens is made of: what the
    matrix library gives at the model's own shapes, against the square-matrix peak."""
    import torch

    hidden, inner = config.hidden_size, config.intermediate_size
    kv_width = hidden // config.num_attention_heads * config.num_key_value_heads
    shapes = {"q/o projection": (hidden, hidden), "k/v projection": (hidden, kv_width),
              "MLP up/gate": (hidden, inner), "MLP down": (inner, hidden), "vocabulary head": (hidden, config.vocab_size)}
    rows = []
    for name, (k, n) in shapes.items():
        a, w = torch.randn(tokens, k, device=device, dtype=dtype), torch.randn(n, k, device=device, dtype=dtype)
        seconds = best_seconds(lambda: torch.nn.functional.linear(a, w), repeats)
        rows.append({"product": name, "shape": f"{tokens}x{k} @ {k}x{n}", "macs_per_s": tokens * k * n / seconds})
    return rows


def bandwidth(device, gib: float = 1.0, repeats: int = 5) -> dict:
    """Bytes read plus written per second by copying a `gib`-GiB float32 buffer."""
    import torch

    count = int(gib * 2**30) // 4
    source, target = torch.ones(count, device=device), torch.empty(count, device=device)

    return {"bytes_per_s": 2 * count * 4 / best_seconds(lambda: target.copy_(source), repeats), "buffer_gib": gib}


def stage_row(name: str, stage, peak: float, bw: float, repeats: int) -> dict:
    """Time one stage, count its work, and express the result as a share of the limit that binds it."""
    from stage_work import count_macs, matmul_time_share

    seconds = best_seconds(stage.run, repeats)
    macs = count_macs(stage.run)
    compute_bound = macs / peak
    row = {"stage": name, "seconds": seconds, "macs": macs, "achieved_macs_per_s": macs / seconds}
    if stage.bytes_per_step:  # decoding: each step reads every weight once
        memory_bound = stage.bytes_per_step * stage.steps / bw
        row.update(bound="bandwidth" if memory_bound >= compute_bound else "compute",
                   bound_seconds=max(memory_bound, compute_bound), decode_steps=stage.steps)
    else:
        row.update(bound="compute", bound_seconds=compute_bound)
    row["share"] = row["bound_seconds"] / seconds
    row.update(matmul_time_share(stage.run))
    # The rate while the matrix products run: the stage's work over the time the profile puts in them.
    row["in_matmul_share"] = row["achieved_macs_per_s"] / row["matmul_time_share"] / peak
    return row


def fmt_rate(value: float) -> str:
    return f"{value / 1e9:.1f}"


def write_report(out: Path, limits: dict, rows: list[dict], model_path, device: str) -> None:
    peak, bw = limits["matmul"], limits["bandwidth"]
    lines = ["## Each stage as a share of the machine's limit", "",
             f"Model: {describe_model(model_path)}; device {device}, {limits['threads']} threads, {limits['dtype']}. "
             f"Limits measured in the same run: matmul peak {fmt_rate(peak['macs_per_s'])} GMAC/s "
             f"(n = {peak['n']}), copy bandwidth {bw['bytes_per_s'] / 1e9:.1f} GB/s (read + write, "
             f"{bw['buffer_gib']} GiB buffer). Best of the repeats after a warm-up; multiply-adds counted by "
             "FlopCounterMode on the same call.", "",
             "| stage | seconds | GMAC | GMAC/s | bound | share of the limit | goal | matmul share of the time | "
             "peak share while in matmuls | largest non-matmul operators (share of the time) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        goal = GOALS.get(row["stage"])
        verdict = "" if goal is None else f">= {goal:.0%} " + ("met" if row["share"] >= goal else "**not met**")
        others = ", ".join(f"{op} {share:.0%}" for op, share in row["top_other_ops"])
        lines.append(f"| {row['stage']} | {row['seconds']:.3f} | {row['macs'] / 1e9:.2f} | "
                     f"{fmt_rate(row['achieved_macs_per_s'])} | {row['bound']} | {row['share']:.0%} | {verdict} | "
                     f"{row['matmul_time_share']:.0%} | {row['in_matmul_share']:.0%} | {others} |")
    shapes = limits.get("model_shapes", [])
    if shapes:
        lines += ["", f"The matrix library at the model's own shapes ({shapes[0]['shape'].split('x')[0]} tokens, "
                  "weights as in a forward pass), against the square-matrix peak:", "",
                  "| product | shape | GMAC/s | share of the peak |", "|---|---|---|---|"]
        lines += [f"| {r['product']} | {r['shape']} | {fmt_rate(r['macs_per_s'])} | {r['macs_per_s'] / peak['macs_per_s']:.0%} |"
                  for r in shapes]
    lines += ["", "Share of the limit: compute-bound stages, achieved GMAC/s / peak; decoding, the least time the "
              "hardware needs (the larger of weight bytes per step x steps / bandwidth and GMAC / peak) / the "
              "time measured. The matmul share is the profiler's self time in matrix-product operators "
              "(mm, addmm, bmm, attention kernels) over all operators' self time; the peak share while in "
              "matmuls is the stage's multiply-adds over that time, against the peak: where it is low, the "
              "matrix library runs below its square-matrix peak at the model's shapes (table below), where "
              "it is high and the stage's share is low, the time goes to the operators listed."]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    out.with_suffix(".json").write_text(json.dumps({"limits": limits, "stages": rows}, indent=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-path", default=None)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--stages", nargs="+", default=None, help="a subset of the stage names (default: all)")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "sections" / "limits.md")
    args = parser.parse_args()

    import torch

    from stage_work import build_stages

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    model_path = args.model_path or default_model_path()
    sizes = (1024, 2048, 3072) if device.type == "cpu" else (4096, 8192, 16384)
    limits = {"matmul": matmul_peak(device, dtype, sizes), "bandwidth": bandwidth(device), "threads": torch.get_num_threads(),
              "dtype": str(dtype).replace("torch.", "")}
    stages, config = build_stages(model_path, device)
    limits["model_shapes"] = model_shape_rates(config, device, dtype)
    rows = [stage_row(name, stage, limits["matmul"]["macs_per_s"], limits["bandwidth"]["bytes_per_s"], args.repeats)
            for name, stage in stages.items() if not args.stages or name in args.stages]
    write_report(args.out, limits, rows, model_path, device.type)
    print(args.out.read_text())


if __name__ == "__main__":
    main()
