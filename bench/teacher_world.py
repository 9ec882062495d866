"""Benchmark: how faithful and how small the compact teacher is, on the embedded world and on persons
the model has never read about.

Two worlds: the embedded one (data/wpu_mini, which the implanted model knows), and the hand-written
varied-prose world (tests/data/varied_world: other persons, natural wording; unfamiliar to the
implanted model, so its teacher rows are flatter and need more tokens). For every chunk of the forget
splits of each, the full teacher rows (the mean of the N aligned,
name-corrected distributions over the whole vocabulary, before compaction) are built once and
compared with what the artifact stores at the given settings (causal_unlearn/teacher/compaction.py):

- mean KL(full || stored) in nats per position (the goal: <= 1e-3 at the default settings);
- tokens kept per position (mean, median, 99th percentile, how many rows hit the top_k cap);
- bytes per position stored vs the dense float32 full-vocabulary row (goal: <= 1%).

    .venv/bin/python bench/teacher_world.py                         # both worlds, forget_2_1 and forget_2_2, N=10
    .venv/bin/python bench/teacher_world.py --splits forget_2_1 --n 5 --worlds embedded

The report holds a table per world and the KL-versus-bytes curve of both (teacher_world.png).
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.append(str(Path(__file__).resolve().parent))  # after the repo: bench/teacher.py is not teacher.py

from common import default_model_path, describe_model  # noqa: E402

# (top_k, kl_budget, scope) measured; the first is the configs' default. "chunk": the budget on each chunk's
# mean KL (the default); "position": on every position's own KL; kl_budget 0: a fixed top_k.
DEFAULT_TOP_K = 16384  # config/base.yaml teacher.top_k
SETTINGS = tuple((DEFAULT_TOP_K, budget, scope) for scope in ("chunk", "position") for budget in (1e-3, 1e-2, 3e-3, 3e-4, 1e-4)) \
    + ((8192, 1e-3, "chunk"), (32, 0.0, "position"), (256, 0.0, "position"))
WORLDS = {"embedded": ("embedded world (data/wpu_mini)", "data/wpu_mini"),
          "unfamiliar": ("unfamiliar persons (tests/data/varied_world)", "tests/data/varied_world")}


def full_rows(data_path: str, split: str, n: int, model_path: str | None):
    """Yield the full teacher rows (P, V) of every chunk of a split, built as teacher.py builds them."""
    import torch
    from hydra import compose, initialize_config_dir

    from causal_unlearn.core.models import load_family, load_model, load_tokenizer
    from causal_unlearn.teacher.build import chunks_of, settings_of, substitutes_for
    from causal_unlearn.teacher.chunk_teacher import chunk_teacher_rows
    from causal_unlearn.teacher.names import name_variants
    from causal_unlearn.teacher.targets import load_targets

    torch.set_grad_enabled(False)
    with initialize_config_dir(config_dir=str(REPO / "config"), version_base="1.3"):
        cfg = compose(config_name="forget_mini", overrides=[f"data_path={REPO / data_path}", f"split={split}", f"teacher.N={n}",
                                                            f"model_path={model_path}" if model_path else "model_path=null"])
    family = load_family(cfg.model_family)
    tokenizer, model = load_tokenizer(family, cfg.model_path), load_model(family, cfg.model_path).eval()
    targets = load_targets(cfg)
    substitutes = substitutes_for(cfg, targets)
    settings = settings_of(cfg)
    for target in targets:
        for chunk in chunks_of(cfg, target, tokenizer, family.max_context):
            rows = chunk_teacher_rows(model, tokenizer, family, chunk, target.title, name_variants(target.title),
                                      substitutes[target.title], settings)
            if rows is not None:
                yield rows[2]


def measure(data_path: str, splits: list[str], n: int, model_path: str | None) -> list[dict]:
    from causal_unlearn.teacher.artifact import stored_row_bytes
    from causal_unlearn.teacher.compaction import compact_rows, stored_kl

    per_setting = {setting: {"kl": [], "kept": [], "bytes": 0} for setting in SETTINGS}
    vocab = 0
    for split in splits:
        for rows in full_rows(data_path, split, n, model_path):
            vocab = rows.shape[-1]
            dense = rows.cpu().numpy()
            for top_k, kl_budget, scope in SETTINGS:
                ids, values, residual, kept = compact_rows(rows, top_k, kl_budget, scope)
                per_setting[(top_k, kl_budget, scope)]["kl"].append(stored_kl(dense, ids, values, residual, kept))
                per_setting[(top_k, kl_budget, scope)]["kept"].append(kept)
                per_setting[(top_k, kl_budget, scope)]["bytes"] += stored_row_bytes(ids, values, residual, kept)
    results = []
    for (top_k, kl_budget, scope), found in per_setting.items():
        kl, kept = np.concatenate(found["kl"]), np.concatenate(found["kept"])
        results.append({"top_k": top_k, "kl_budget": kl_budget, "scope": scope, "positions": int(len(kl)), "mean_kl": float(kl.mean()),
                        "max_row_kl": float(kl.max()), "kept_mean": float(kept.mean()),
                        "kept_median": float(np.median(kept)), "kept_p99": float(np.percentile(kept, 99)),
                        "at_cap": float((kept == top_k).mean()),
                        "storage_fraction": found["bytes"] / len(kept) / (4 * vocab)})
    return results


def world_table(name: str, results: list[dict], splits: list[str], n: int) -> list[str]:
    lines = [f"### {name}", "", f"Splits {', '.join(splits)}; N={n}; every chunk, {results[0]['positions']} positions.", "",
             "| top_k | kl_budget | scope | mean KL(full \\|\\| stored) nats/pos | worst row | kept tokens mean / median / p99 | "
             "rows at cap | stored / dense float32 |", "|---|---|---|---|---|---|---|---|"]
    for r in results:
        scope = r["scope"] if r["kl_budget"] > 0 else "fixed top_k"
        lines.append(f"| {r['top_k']} | {r['kl_budget']:g} | {scope} | {r['mean_kl']:.2e} | {r['max_row_kl']:.2e} | "
                     f"{r['kept_mean']:.1f} / {r['kept_median']:.0f} / {r['kept_p99']:.0f} | {100 * r['at_cap']:.1f}% | "
                     f"{100 * r['storage_fraction']:.3f}% |")
    return lines + [""]


def plot_curves(worlds: list[dict], out: Path) -> None:
    """Mean KL against stored bytes (share of dense) for each world, one point per setting."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker  # noqa: F401  (matplotlib.ticker below)

    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    for world, color in zip(worlds, ("tab:blue", "tab:orange")):
        for scope, style in (("chunk", "-o"), ("position", "--s")):
            points = sorted((100 * r["storage_fraction"], r["mean_kl"]) for r in world["results"]
                            if r["kl_budget"] > 0 and r["scope"] == scope and r["top_k"] == DEFAULT_TOP_K)
            ax.plot(*zip(*points), style, color=color, label=f"{world['name']}, budget per {scope}")
        default = world["results"][0]
        ax.plot(100 * default["storage_fraction"], default["mean_kl"], "k*", markersize=11)
    ax.axhline(1e-3, color="grey", linewidth=0.8, linestyle=":")
    ax.set(xscale="log", yscale="log", xlabel="stored / dense float32 (%)", ylabel="mean KL(full || stored), nats/pos",
           title="compact teacher: fidelity per byte (star: default)")
    ticks = [0.1, 0.2, 0.5, 1, 2, 5, 10, 20]
    ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def write_report(worlds: list[dict], out: Path, splits: list[str], n: int, model_path: str | None) -> None:
    lines = ["## Teacher fidelity and size", "",
             f"Model: {describe_model(model_path)}. Full rows: the mean teacher over the whole vocabulary before "
             f"compaction. Stored: what the artifact keeps, bytes as written (first row: the default settings, top_k {DEFAULT_TOP_K} with a "
             "KL budget of 1e-3 nats on each chunk's mean; scope position: the same budget on every position).", ""]
    for world in worlds:
        lines += world_table(world["name"], world["results"], splits, n)
    out.parent.mkdir(parents=True, exist_ok=True)
    plot_curves(worlds, out.with_suffix(".png"))
    lines += [f"![KL against bytes]({out.with_suffix('.png').name})", ""]
    out.write_text("\n".join(lines) + "\n")
    out.with_suffix(".json").write_text(json.dumps(worlds, indent=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--splits", nargs="+", default=["forget_2_1", "forget_2_2"])
    parser.add_argument("--n", type=int, default=10, help="substitute names (the demo's intervention uses 10)")
    parser.add_argument("--model-path", default=None)
    parser.add_argument("--worlds", nargs="+", choices=list(WORLDS), default=list(WORLDS))
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "sections" / "teacher_world.md")
    args = parser.parse_args()
    model_path = args.model_path or default_model_path()
    worlds = [{"key": key, "name": WORLDS[key][0], "data_path": WORLDS[key][1],
               "results": measure(WORLDS[key][1], args.splits, args.n, model_path)} for key in args.worlds]
    write_report(worlds, args.out, args.splits, args.n, model_path)
    print(args.out.read_text())


if __name__ == "__main__":
    main()
