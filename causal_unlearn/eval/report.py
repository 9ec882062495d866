"""A report people can look at: report.md plus PNG plots next to the results, from a WPU-style
comparison table (one row per method and split) or a TOFU run folder (one aggregate_stat.csv
per checkpoint, under checkpoint-*/eval/).

The plots show, per method (or per checkpoint), how much of the target was forgotten (Forget
ROUGE, lower is better) next to what should be kept (hard-retain and general-retain ROUGE,
higher is better), with the before-unlearning model drawn as dashed reference lines.
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from causal_unlearn.core.errors import UserError  # noqa: E402
from causal_unlearn.core.files import atomic_write_text  # noqa: E402
from causal_unlearn.core.run_layout import checkpoint_dirs, checkpoint_eval_dir, checkpoint_step  # noqa: E402
from causal_unlearn.eval.tables import AGGREGATE_FILE  # noqa: E402

WPU_BARS = [("Forget ROUGE", "#d62728"), ("Hard Retain ROUGE", "#1f77b4"), ("General Retain ROUGE", "#2ca02c")]
TOFU_LINES = ["Forget Quality", "Model Utility", "ROUGE Forget", "ROUGE Retain"]


def markdown_table(frame: pd.DataFrame) -> str:
    columns = list(frame.columns)
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in frame.itertuples(index=False):  # keeps each column's type (iterrows would make ints floats)
        cells = [f"{v:.3f}" if isinstance(v, float) else str(v) for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_wpu_split(table: pd.DataFrame, split: str, reference: str | None, path: Path) -> None:
    rows = table[table["split"] == split].reset_index(drop=True)
    figure, axis = plt.subplots(figsize=(1.6 + 1.1 * len(rows), 3.6))
    width = 0.8 / len(WPU_BARS)
    for index, (column, color) in enumerate(WPU_BARS):
        positions = [i + (index - 1) * width for i in range(len(rows))]
        axis.bar(positions, rows[column], width=width, color=color, label=column)
        ref = rows[rows["method"] == reference]
        if not ref.empty:
            axis.axhline(float(ref[column].iloc[0]), color=color, linestyle="--", linewidth=1)
    axis.set_xticks(range(len(rows)), rows["method"], rotation=30, ha="right")
    axis.set_ylim(0, 1.05)
    axis.set_ylabel("ROUGE-L recall")
    axis.set_title(f"{split}: forget (low is good) vs retain (high is good)" + (f"; dashed: {reference}" if reference else ""),
                   fontsize=9)
    axis.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.28), ncol=3)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def wpu_report(summary: Path, reference: str | None) -> Path:
    if not summary.is_file():
        raise UserError(f"{summary} does not exist; run the evaluation and aggregation first.")
    table = pd.read_csv(summary)
    out_dir = summary.parent
    sections = ["# Unlearning report", "",
                f"Source: `{summary.name}`. Forget ROUGE should drop, Hard/General Retain ROUGE should stay "
                f"at the reference" + (f" (`{reference}`)." if reference else ".")]
    for split in table["split"].drop_duplicates():
        image = out_dir / f"report_{split}.png"
        plot_wpu_split(table, split, reference, image)
        extra = [c for c in table.columns if c == "Other Persons ROUGE" or "attack" in c.lower() or "GPT" in c]
        shown = table[table["split"] == split][["method"] + [c for c, _ in WPU_BARS if c in table.columns] + extra]
        shown = shown.dropna(axis=1, how="all")  # judge columns stay empty without a judge endpoint
        sections += ["", f"## {split}", "", f"![{split}]({image.name})", "", markdown_table(shown)]
    path = out_dir / "report.md"
    atomic_write_text(path, "\n".join(sections) + "\n")
    return path


def checkpoint_table(run_dir: Path) -> pd.DataFrame:
    """A TOFU run's checkpoints, one row each (aggregate_stat.csv plus its step), in step order."""
    files = [checkpoint_eval_dir(c) / AGGREGATE_FILE for c in checkpoint_dirs(run_dir)]
    files = [f for f in files if f.is_file()]
    if not files:
        raise UserError(f"No checkpoint-*/eval/aggregate_stat.csv under {run_dir}; evaluate the checkpoints first.")
    return pd.concat([pd.read_csv(f).assign(step=checkpoint_step(f)) for f in files], ignore_index=True)


def tofu_frontier_report(runs: dict[str, Path], out_dir: Path, start: Path | None = None) -> Path:
    """TOFU's trade-off across methods: Forget Quality against Model Utility at every checkpoint, one
    curve per method (TOFU's own frontier plot), and the checkpoints' table. `start`: the eval folder
    of the model before unlearning (its aggregate_stat.csv), step 0 of every curve."""
    tables = {method: checkpoint_table(run) for method, run in runs.items()}
    if start is not None:
        if not (start / AGGREGATE_FILE).is_file():
            raise UserError(f"No {AGGREGATE_FILE} in {start}; evaluate the model before unlearning into it first.")
        before = pd.read_csv(start / AGGREGATE_FILE).assign(step=0)
        tables = {method: pd.concat([before, table], ignore_index=True) for method, table in tables.items()}
    figure, axis = plt.subplots(figsize=(5.5, 4.0))
    for method, table in tables.items():
        axis.plot(table["Model Utility"], table["Forget Quality"], marker="o", label=method)
        for utility, quality, step in zip(table["Model Utility"], table["Forget Quality"], table["step"]):
            axis.annotate(str(step), (utility, quality), fontsize=6)
    axis.set_xlabel("Model Utility (higher keeps more)")
    axis.set_ylabel("Forget Quality (KS p-value; higher forgets more)")
    axis.set_yscale("log")
    axis.legend(fontsize=7)
    figure.tight_layout()
    out_dir.mkdir(parents=True, exist_ok=True)
    image = out_dir / "tofu_frontier.png"
    figure.savefig(image, dpi=110)
    plt.close(figure)
    shown = pd.concat([t.assign(method=m)[["method", "step", "Forget Quality", "Model Utility"]]
                       for m, t in tables.items()], ignore_index=True)
    path = out_dir / "tofu_frontier.md"
    atomic_write_text(path, "# TOFU: Forget Quality against Model Utility per checkpoint\n\n"
                      f"![frontier]({image.name})\n\nPoints are labelled with their step"
                      f"{' (step 0: the model before unlearning)' if start is not None else ''}.\n\n"
                      f"{markdown_table(shown)}\n")
    return path


def tofu_report(run_dir: Path) -> Path:
    table = checkpoint_table(run_dir)
    figure, axis = plt.subplots(figsize=(5.5, 3.6))
    for column in TOFU_LINES:
        if column in table:
            axis.plot(table["step"], table[column], marker="o", label=column)
    axis.set_xlabel("training step (checkpoint)")
    axis.set_yscale("symlog", linthresh=1e-3)
    axis.legend(fontsize=7)
    axis.set_title(run_dir.name, fontsize=9)
    figure.tight_layout()
    image = run_dir / "report_checkpoints.png"
    figure.savefig(image, dpi=110)
    plt.close(figure)
    shown = table[["step"] + [c for c in TOFU_LINES if c in table]]
    path = run_dir / "report.md"
    atomic_write_text(path, f"# TOFU checkpoints of {run_dir.name}\n\n![checkpoints]({image.name})\n\n{markdown_table(shown)}\n")
    return path
