"""frontier.csv and report.md from the grid's records: curves per split and pooled, retention at
matched forgetting with 95% bootstrap intervals, and the verdicts (eval/frontier.py does the maths).

Every curve starts at step 0, the implanted model itself (normalised forgetting 0, every ratio 1):
each method's runs start from it, so its scores are that budget's, for every seed.
"""

import logging
import math
from pathlib import Path

import numpy as np
import pandas as pd

from causal_unlearn.core.errors import UserError
from causal_unlearn.core.files import atomic_write_csv, atomic_write_text
from causal_unlearn.eval.frontier import Run, Split, matched_value, normalised_forgetting, pooled_curve
from causal_unlearn.eval.report import markdown_table

from causal_unlearn.eval.report import plt  # the Agg backend, set once there

logger = logging.getLogger("frontier")
# (task, column name, compared as a ratio to the implanted model, higher is better)
# The attacks' gains (attack ROUGE - Forget ROUGE, per question: what an attack brings back) exist
# on the attacked runs only (frontier.attack_seeds, last checkpoint, and the implanted model).
METRICS = (("hard_retain", "Hard Retain", True, True), ("other_persons", "Other Persons", True, True),
           ("general_retain", "General Retain", True, True), ("invented", "Invented fact rate", False, False),
           ("msj_gain", "MSJ gain", False, False), ("embed_gain", "Embed gain", False, False))
PLOTTED = METRICS[:2]
POOLED = "pooled"
BAND_DRAWS = 200  # the plots' bands: fewer draws than the table's, at many points


def implanted_means(reference: dict[str, list[float]]) -> dict[str, float]:
    """The implanted model's mean per task, and the floor's (the strangers') under 'floor'."""
    return {task: float(np.mean(values)) for task, values in reference.items()}


def splits_by_method(references: dict, records: list[dict]) -> dict[str, dict[str, Split]]:
    """{method: {split: Split}} with step 0 (the implanted model) added to every seed's runs."""
    out: dict[str, dict[str, Split]] = {}
    for record in records:
        split, seed = record["split"], record["seed"]
        reference = references[split]
        runs = [Run(0, seed, {t: np.asarray(v, float) for t, v in reference.items() if t != "floor"})]
        runs += [Run(c["step"], seed, {t: np.asarray(v, float) for t, v in c["scores"].items()})
                 for c in record["checkpoints"]]
        implanted = implanted_means(reference)
        previous = out.setdefault(record["method"], {}).get(split)
        out[record["method"]][split] = Split((previous.runs if previous else []) + runs, implanted, implanted["floor"])
    return out


def frontier_table(references: dict, records: list[dict]) -> pd.DataFrame:
    """One row per run and budget (the implanted model as step 0 of each)."""
    rows = []
    for record in records:
        reference = references[record["split"]]
        implanted = implanted_means(reference)
        for checkpoint in [{"step": 0, "scores": reference}, *record["checkpoints"]]:
            means = {t: float(np.mean(v)) for t, v in checkpoint["scores"].items() if t != "floor"}
            row = {"method": record["method"], "split": record["split"], "seed": record["seed"],
                   "step": checkpoint["step"], "Forget ROUGE": means["forget"],
                   "normalised forgetting": normalised_forgetting(means["forget"], implanted["forget"],
                                                                  implanted["floor"])}
            for task, name, as_ratio, _ in METRICS:
                value = means.get(task, math.nan)  # an attack's gain: attacked budgets only
                row[f"{name} ROUGE" if as_ratio else f"Forget {name}"] = value
                if as_ratio:
                    row[f"{name} ratio"] = value / implanted[task]
            row["Forget Leak rate"] = means["leak"]
            rows.append(row)
    return pd.DataFrame(rows).sort_values(["method", "split", "seed", "step"]).reset_index(drop=True)


def groups(by_method: dict[str, dict[str, Split]], split_names: list[str]) -> dict[str, dict[str, list[Split]]]:
    """{method: {split or 'pooled': [Split, ...]}}."""
    return {method: {**{s: [splits[s]] for s in split_names if s in splits},
                     **({POOLED: [splits[s] for s in split_names]} if all(s in splits for s in split_names)
                        and len(split_names) > 1 else {})}
            for method, splits in by_method.items()}


def cell(value: tuple[float, float, float]) -> str:
    point, low, high = value
    if math.isnan(point):
        return "not reached"
    return f"{point:.2f}" if math.isnan(low) else f"{point:.2f} [{low:.2f}, {high:.2f}]"


def matched_table(grouped: dict, match_at: list[float], draws: int) -> tuple[pd.DataFrame, dict]:
    """The markdown-ready table and the raw (point, low, high) values behind it."""
    values, rows = {}, []
    for method, by_split in grouped.items():
        for split, splits in by_split.items():
            for x in match_at:
                row = {"method": method, "split": split, "forgetting": x}
                for task, name, as_ratio, _ in METRICS:
                    value = matched_value(splits, task, x=x, draws=draws, ratio=as_ratio)
                    values[(method, split, x, task)] = value
                    row[name + (" ratio" if as_ratio else "")] = cell(value)
                rows.append(row)
    return pd.DataFrame(rows), values


def compare(value_a, value_b, higher_is_better: bool) -> str:
    """'a', 'b' (whose interval lies wholly on the better side), 'none' (they overlap) or 'n/a'."""
    (_, low_a, high_a), (_, low_b, high_b) = value_a, value_b
    if any(math.isnan(v) for v in (low_a, high_a, low_b, high_b)):
        return "n/a"
    if low_a > high_b:
        return "a" if higher_is_better else "b"
    if low_b > high_a:
        return "b" if higher_is_better else "a"
    return "none"


def verdicts(values: dict, grouped: dict, reference: str, match_at: list[float]) -> list[str]:
    """One paragraph per baseline: where the reference method is better, where the baseline is, the rest."""
    if reference not in grouped:
        return [f"No runs of the reference method `{reference}`: no verdicts."]
    paragraphs = []
    for method in grouped:
        if method == reference:
            continue
        better = {"a": [], "b": [], "none": [], "n/a": []}
        for split in grouped[method]:
            if split not in grouped[reference]:
                continue
            for x in match_at:
                for task, name, _, higher in METRICS:
                    outcome = compare(values[(reference, split, x, task)], values[(method, split, x, task)], higher)
                    better[outcome].append(f"{name} at {x:g} ({split})")
        parts = [f"**{reference} vs {method}.**"]
        if better["a"]:
            parts.append(f"{reference} is better on {', '.join(better['a'])}.")
        if better["b"]:
            parts.append(f"{method} is better on {', '.join(better['b'])}.")
        if not better["a"] and not better["b"] and not better["none"]:
            parts.append("Nothing compared: no forgetting level asked is reached by both curves.")
        elif not better["a"] and not better["b"]:
            parts.append("No difference measured where both curves reach the forgetting compared.")
        else:
            parts.append(f"No difference measured on the other {len(better['none'])} comparisons.")
        if better["n/a"]:
            parts.append(f"Not measured ({len(better['n/a'])} comparisons): a curve does not reach that forgetting.")
        paragraphs.append(" ".join(parts))
    return paragraphs


def plot(grouped: dict, split: str, image: Path, draws: int) -> None:
    """Retention ratio against normalised forgetting, one curve per method, bootstrap bands."""
    figure, axes = plt.subplots(1, len(PLOTTED), figsize=(5.2 * len(PLOTTED), 3.8), sharey=True)
    grid = np.linspace(0.0, 1.0, 21)
    for axis, (task, name, _, _) in zip(axes, PLOTTED):
        for method, by_split in grouped.items():
            if split not in by_split:
                continue
            xs, ys = pooled_curve(by_split[split], task)
            line, = axis.plot(xs, ys, marker="o", label=method)
            inside = grid[(grid >= min(xs)) & (grid <= max(xs))]  # the mean curve's span: elsewhere no band
            band = [matched_value(by_split[split], task, x=x, draws=min(draws, BAND_DRAWS)) for x in inside]
            lows, highs = np.array([b[1] for b in band]), np.array([b[2] for b in band])
            if len(inside):
                axis.fill_between(inside, lows, highs, where=~np.isnan(lows), color=line.get_color(), alpha=0.15)
        axis.set_xlabel("normalised forgetting (0 implanted, 1 floor)")
        axis.set_title(f"{name} ({split})")
        axis.axhline(1.0, color="grey", linewidth=0.5)
    axes[0].set_ylabel("retention / implanted")
    axes[-1].legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(image, dpi=110)
    plt.close(figure)


def write_report(out_dir: Path, references: dict, records: list[dict], split_names: list[str],
                 match_at: list[float], draws: int, reference_method: str, seconds: float | None = None) -> Path:
    if not records:
        raise UserError(f"No finished frontier jobs under {out_dir}/runs; run frontier.py first.")
    table = frontier_table(references, records)
    atomic_write_csv(out_dir / "frontier.csv", table)
    by_method = splits_by_method(references, records)
    order = [reference_method, *sorted(m for m in by_method if m != reference_method)]  # the reference first
    grouped = groups({m: by_method[m] for m in order if m in by_method}, split_names)
    matched, values = matched_table(grouped, match_at, draws)
    seeds = sorted(table["seed"].unique())
    floors = ", ".join(f"{s} {np.mean(references[s]['floor']):.3f}" for s in split_names)
    implanted = ", ".join(f"{s} {np.mean(references[s]['forget']):.3f}" for s in split_names)
    lines = ["# Forgetting-retention frontiers", "",
             f"Methods {', '.join(grouped)}; splits {', '.join(split_names)}; seeds {', '.join(map(str, seeds))}; "
             f"budgets: steps {', '.join(map(str, sorted(table['step'].unique())))} (0 = the implanted model).",
             f"Implanted Forget ROUGE: {implanted}. Floor (Stranger ROUGE): {floors}. "
             "Normalised forgetting = (implanted - Forget) / (implanted - floor).",
             "Retention is a ratio to the implanted model's (Invented fact rate: the forget answers' rate itself, "
             f"lower is better). Intervals: 95% bootstrap over questions and seeds, {draws} draws; "
             "'not reached': the method's curve does not span that forgetting.",
             *([f"Grid time: {seconds:.0f} s."] if seconds is not None else []), ""]
    for split in [*split_names, *([POOLED] if len(split_names) > 1 else [])]:
        image = out_dir / f"frontier_{split}.png"
        plot(grouped, split, image, draws)
        lines += [f"## {split}", "", f"![{split}]({image.name})", ""]
    reach = pd.DataFrame([{"method": method, **{split: f"{max(pooled_curve(splits, 'forget')[0]):.2f}"
                                                 for split, splits in by_split.items()}}
                          for method, by_split in grouped.items()])
    lines += ["## Deepest forgetting reached", "",
              "The largest normalised forgetting along each method's curve (seed-averaged means); the table below reads "
              "nothing beyond it.", "", markdown_table(reach), "",
              "## Retention at matched forgetting", "", markdown_table(matched), "",
              "## Verdicts", "", *[p + "\n" for p in verdicts(values, grouped, reference_method, match_at)]]
    path = out_dir / "report.md"
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path
