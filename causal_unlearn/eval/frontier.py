"""Forgetting-retention frontiers: a method's retention read at matched forgetting, with a bootstrap
interval over questions and seeds.

A method is run at several budgets (learning rates or steps) and seeds. Each run scores every
question of each task (ROUGE-L recall per question). Along the budgets, a method traces a curve:

    x = normalised forgetting = (implanted - Forget) / (implanted - floor)
    y = a retention score (Hard Retain, Other Persons, ...) as a ratio of the implanted model's

where `floor` is the Forget score of a model that never knew the targets (Stranger ROUGE). Methods
are compared at the same x, by linear interpolation between the budgets that bracket it; outside
the budgets a curve spans, nothing is read (no extrapolation).

The interval: resample the questions of every task and the seeds with replacement, recompute every
run's means, the curve and the value at x, many times; the 2.5th and 97.5th percentiles bound it.
Questions are resampled once per draw for all runs, so methods stay paired on the same questions.
"""

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Run:
    """One training run: a budget (ordered along the method's curve), a seed, and per task the
    per-question scores (the same questions, in the same order, in every run of a split)."""

    budget: float
    seed: int
    scores: dict[str, np.ndarray]


def normalised_forgetting(forget: float, implanted: float, floor: float) -> float:
    """0 at the implanted model, 1 at the floor of a model that never knew the targets."""
    if implanted <= floor:
        raise ValueError(f"the implanted model's Forget ({implanted}) must lie above the floor ({floor})")
    return (implanted - forget) / (implanted - floor)


def value_at(xs, ys, x: float) -> float:
    """y at x on the piecewise-linear curve through (xs, ys), taken in budget order; NaN where no
    segment brackets x. A curve that crosses x more than once is read at the first crossing."""
    xs, ys = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
    for i in range(len(xs) - 1):
        low, high = sorted((xs[i], xs[i + 1]))
        if low <= x <= high:
            if xs[i + 1] == xs[i]:
                return float(max(ys[i], ys[i + 1]))  # a flat step in x: the better of the two
            weight = (x - xs[i]) / (xs[i + 1] - xs[i])
            return float(ys[i] + weight * (ys[i + 1] - ys[i]))
    if len(xs) == 1 and xs[0] == x:
        return float(ys[0])
    return float("nan")


def curve(runs: list[Run], retention_task: str, implanted: dict[str, float], floor: float,
          questions: dict[str, np.ndarray] | None = None, seeds: list[int] | None = None) -> tuple[list, list]:
    """(x, y) per budget, in budget order: each budget's runs averaged over `seeds` (with repeats, as
    a bootstrap draws them) on the `questions` of each task (indices, with repeats; None: all)."""
    xs, ys = [], []
    for budget in sorted({run.budget for run in runs}):
        at_budget = {run.seed: run for run in runs if run.budget == budget}
        chosen = [at_budget[s] for s in (seeds if seeds is not None else sorted(at_budget)) if s in at_budget]
        if not chosen:
            continue

        def mean(task: str) -> float:
            picks = None if questions is None else questions[task]
            return float(np.mean([run.scores[task] if picks is None else run.scores[task][picks] for run in chosen]))

        xs.append(normalised_forgetting(mean("forget"), implanted["forget"], floor))
        ys.append(mean(retention_task) / implanted[retention_task])
    return xs, ys


def matched_value(runs: list[Run], retention_task: str, implanted: dict[str, float], floor: float, x: float,
                  draws: int = 1000, seed: int = 0) -> tuple[float, float, float]:
    """The retention ratio at normalised forgetting x, and its 95% bootstrap interval over questions
    and seeds (NaN where the curve does not reach x)."""
    point = value_at(*curve(runs, retention_task, implanted, floor), x)
    rng = np.random.default_rng(seed)
    sizes = {task: len(values) for task, values in runs[0].scores.items()}
    all_seeds = sorted({run.seed for run in runs})
    samples = []
    for _ in range(draws):
        questions = {task: rng.integers(0, size, size) for task, size in sizes.items()}
        seeds = list(rng.choice(all_seeds, len(all_seeds)))
        samples.append(value_at(*curve(runs, retention_task, implanted, floor, questions, seeds), x))
    samples = np.asarray(samples)
    samples = samples[~np.isnan(samples)]
    if len(samples) < draws / 2:  # the curve reaches x in too few draws for an interval
        return point, float("nan"), float("nan")
    low, high = np.percentile(samples, [2.5, 97.5])
    return point, float(low), float(high)


def verdict(name_a: str, interval_a: tuple[float, float], name_b: str, interval_b: tuple[float, float]) -> str:
    """Which keeps more where the intervals do not overlap; otherwise no difference measured."""
    (low_a, high_a), (low_b, high_b) = interval_a, interval_b
    if any(np.isnan(v) for v in (low_a, high_a, low_b, high_b)):
        return "not measured (a curve does not reach this forgetting)"
    if low_a > high_b:
        return f"{name_a} keeps more"
    if low_b > high_a:
        return f"{name_b} keeps more"
    return "no difference measured"
