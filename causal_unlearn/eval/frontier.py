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


def curve_points(runs: list[Run], retention_task: str, implanted: dict[str, float], floor: float,
                 questions: dict[str, np.ndarray] | None = None, seeds: list[int] | None = None,
                 ratio: bool = True) -> dict[float, tuple[float, float]]:
    """{budget: (x, y)}: each budget's runs averaged over `seeds` (with repeats, as a bootstrap draws
    them; a seed without a run at a budget is left out there) on the `questions` of each task
    (indices, with repeats; None: all). y is the retention mean over the implanted model's
    (ratio=False: the mean itself). Only runs that scored the retention task count (the attacks
    run on some seeds and budgets only): x is read from those same runs."""
    points = {}
    runs = [run for run in runs if retention_task in run.scores]
    for budget in sorted({run.budget for run in runs}):
        at_budget = {run.seed: run for run in runs if run.budget == budget}
        chosen = [at_budget[s] for s in (seeds if seeds is not None else sorted(at_budget)) if s in at_budget]
        if not chosen:
            continue

        def mean(task: str) -> float:
            picks = None if questions is None else questions[task]
            return float(np.mean([run.scores[task] if picks is None else run.scores[task][picks] for run in chosen]))

        retention = mean(retention_task)
        points[budget] = (normalised_forgetting(mean("forget"), implanted["forget"], floor),
                          retention / implanted[retention_task] if ratio else retention)
    return points


def curve(runs: list[Run], retention_task: str, implanted: dict[str, float], floor: float,
          questions: dict[str, np.ndarray] | None = None, seeds: list[int] | None = None,
          ratio: bool = True) -> tuple[list, list]:
    """(x, y) per budget, in budget order (curve_points as two lists)."""
    points = curve_points(runs, retention_task, implanted, floor, questions, seeds, ratio)
    return [x for x, _ in points.values()], [y for _, y in points.values()]


@dataclass(frozen=True)
class Split:
    """One forget split's runs of a method, with the implanted model's per-task means and the floor
    they are normalised by."""

    runs: list[Run]
    implanted: dict[str, float]
    floor: float


def pooled_curve(splits: list[Split], retention_task: str, questions: list[dict] | None = None,
                 seeds: list[int] | None = None, ratio: bool = True) -> tuple[list, list]:
    """The splits' curves averaged budget by budget, over the budgets every split has (a partial
    grid may lack some): x and y are the means over splits. `questions`: one draw per split."""
    curves = [curve_points(split.runs, retention_task, split.implanted, split.floor,
                           None if questions is None else questions[i], seeds, ratio)
              for i, split in enumerate(splits)]
    shared = sorted(set.intersection(*(set(points) for points in curves)))
    xs = [float(np.mean([points[b][0] for points in curves])) for b in shared]
    ys = [float(np.mean([points[b][1] for points in curves])) for b in shared]
    return xs, ys


def matched_value(runs: list[Run] | list[Split], retention_task: str, implanted: dict[str, float] | None = None,
                  floor: float | None = None, x: float = 0.5, draws: int = 1000, seed: int = 0,
                  ratio: bool = True) -> tuple[float, float, float]:
    """The retention at normalised forgetting x (a ratio to the implanted model's, or the raw mean
    with ratio=False, e.g. for a rate), and its 95% bootstrap interval over questions and seeds (NaN
    where the curve does not reach x). `runs` is one split's runs (with its `implanted` and `floor`)
    or a list of `Split`s, pooled: each draw resamples every split's questions and the seeds once."""
    splits = runs if runs and isinstance(runs[0], Split) else [Split(runs, implanted, floor)]
    point = value_at(*pooled_curve(splits, retention_task, ratio=ratio), x)
    rng = np.random.default_rng(seed)
    all_seeds = sorted({run.seed for split in splits for run in split.runs})
    samples = []
    # Each task's question count, from any run that scored it (not every run scores every task).
    sizes = [{task: len(values) for run in split.runs for task, values in run.scores.items()} for split in splits]
    for _ in range(draws):
        questions = [{task: rng.integers(0, size, size) for task, size in split_sizes.items()}
                     for split_sizes in sizes]
        seeds = list(rng.choice(all_seeds, len(all_seeds)))
        samples.append(value_at(*pooled_curve(splits, retention_task, questions, seeds, ratio), x))
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
