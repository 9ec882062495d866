"""Frontiers (causal_unlearn/eval/frontier.py): interpolation at matched forgetting and the bootstrap
interval, on hand-made curves."""

import math

import numpy as np
import pytest

from causal_unlearn.eval.frontier import (Run, Split, curve, matched_value, normalised_forgetting, pooled_curve, value_at,
                                          verdict)

IMPLANTED = {"forget": 1.0, "hard_retain": 0.8}
FLOOR = 0.2


def test_normalised_forgetting_is_zero_at_the_implanted_model_and_one_at_the_floor():
    assert normalised_forgetting(1.0, 1.0, 0.2) == 0.0
    assert normalised_forgetting(0.2, 1.0, 0.2) == 1.0
    assert normalised_forgetting(0.6, 1.0, 0.2) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="floor"):
        normalised_forgetting(0.5, 0.2, 0.2)


def test_value_at_interpolates_between_the_bracketing_budgets_and_never_extrapolates():
    xs, ys = [0.1, 0.4, 0.9], [1.0, 0.7, 0.2]
    assert value_at(xs, ys, 0.4) == pytest.approx(0.7)
    assert value_at(xs, ys, 0.25) == pytest.approx(0.85)   # half way from (0.1, 1.0) to (0.4, 0.7)
    assert value_at(xs, ys, 0.8) == pytest.approx(0.3)     # 4/5 of the way from (0.4, 0.7) to (0.9, 0.2)
    assert math.isnan(value_at(xs, ys, 0.95)) and math.isnan(value_at(xs, ys, 0.05))
    assert value_at([0.5, 0.5], [0.6, 0.9], 0.5) == pytest.approx(0.9)  # a flat step: the better value


def _runs(retention_by_budget: dict[float, float], seeds=(0, 1), questions: int = 10, noise: float = 0.0,
          rng_seed: int = 0) -> list[Run]:
    """Runs whose forget mean is 1 - budget (x = budget / 0.8) and retention mean is as given."""
    rng = np.random.default_rng(rng_seed)
    runs = []
    for budget, retention in retention_by_budget.items():
        for seed in seeds:
            forget = np.full(questions, 1.0 - budget) + rng.normal(0, noise, questions)
            keep = np.full(questions, retention) + rng.normal(0, noise, questions)
            runs.append(Run(budget, seed, {"forget": forget, "hard_retain": keep}))
    return runs


def test_the_curve_averages_seeds_and_questions_per_budget_in_budget_order():
    runs = _runs({0.4: 0.4, 0.0: 0.8, 0.8: 0.2})
    xs, ys = curve(runs, "hard_retain", IMPLANTED, FLOOR)
    assert xs == pytest.approx([0.0, 0.5, 1.0]) and ys == pytest.approx([1.0, 0.5, 0.25])
    # Questions and seeds as a bootstrap draws them (with repeats) change the means accordingly.
    runs[0].scores["hard_retain"][0] = 0.0  # budget 0.4, seed 0, question 0
    picks = {"forget": np.zeros(10, dtype=int), "hard_retain": np.zeros(10, dtype=int)}
    _, ys = curve(runs, "hard_retain", IMPLANTED, FLOOR, questions=picks, seeds=[0, 0])
    assert ys[1] == pytest.approx(0.0)


def test_without_any_spread_the_interval_is_the_point():
    point, low, high = matched_value(_runs({0.0: 0.8, 0.4: 0.4, 0.8: 0.2}), "hard_retain", IMPLANTED, FLOOR, 0.25,
                                     draws=50)
    assert point == pytest.approx(0.75) and low == pytest.approx(point) and high == pytest.approx(point)


def test_the_interval_holds_the_point_and_tells_a_clear_difference_from_none():
    budgets = (0.0, 0.4, 0.8)
    strong = _runs(dict(zip(budgets, (0.8, 0.75, 0.7))), noise=0.05, rng_seed=1)
    weak = _runs(dict(zip(budgets, (0.8, 0.4, 0.2))), noise=0.05, rng_seed=2)
    twin = _runs(dict(zip(budgets, (0.8, 0.75, 0.7))), noise=0.05, rng_seed=3)
    results = {name: matched_value(runs, "hard_retain", IMPLANTED, FLOOR, 0.5, draws=300)
               for name, runs in (("strong", strong), ("weak", weak), ("twin", twin))}
    for point, low, high in results.values():
        assert low <= point <= high and high - low > 0
    assert verdict("strong", results["strong"][1:], "weak", results["weak"][1:]) == "strong keeps more"
    assert verdict("weak", results["weak"][1:], "strong", results["strong"][1:]) == "strong keeps more"
    assert verdict("strong", results["strong"][1:], "twin", results["twin"][1:]) == "no difference measured"


def test_a_curve_that_never_reaches_the_forgetting_asked_has_no_interval():
    light = _runs({0.0: 0.8, 0.16: 0.7})  # x reaches 0.2 at most
    point, low, high = matched_value(light, "hard_retain", IMPLANTED, FLOOR, 0.8, draws=20)
    assert all(math.isnan(v) for v in (point, low, high))
    assert verdict("light", (low, high), "other", (0.1, 0.2)).startswith("not measured")


def test_pooled_splits_average_their_curves_and_their_interval_holds_the_point():
    first = Split(_runs({0.0: 0.8, 0.4: 0.4, 0.8: 0.2}, noise=0.02, rng_seed=4), IMPLANTED, FLOOR)
    second = Split(_runs({0.0: 0.8, 0.4: 0.8, 0.8: 0.8}, noise=0.02, rng_seed=5), IMPLANTED, FLOOR)
    xs, ys = pooled_curve([first, second], "hard_retain")
    one_xs, one_ys = curve(first.runs, "hard_retain", IMPLANTED, FLOOR)
    two_xs, two_ys = curve(second.runs, "hard_retain", IMPLANTED, FLOOR)
    assert xs == pytest.approx((np.array(one_xs) + two_xs) / 2) and ys == pytest.approx((np.array(one_ys) + two_ys) / 2)
    point, low, high = matched_value([first, second], "hard_retain", x=0.5, draws=200)
    assert point == pytest.approx(value_at(xs, ys, 0.5)) and low <= point <= high
    # Pooling the same split twice changes nothing but the draws.
    alone = matched_value(first.runs, "hard_retain", IMPLANTED, FLOOR, 0.5, draws=200)
    twice = matched_value([first, first], "hard_retain", x=0.5, draws=200)
    assert twice[0] == pytest.approx(alone[0])


def test_a_rate_is_read_as_it_is_not_as_a_ratio():
    runs = _runs({0.0: 0.8, 0.4: 0.4, 0.8: 0.2})
    assert matched_value(runs, "hard_retain", IMPLANTED, FLOOR, 0.5, draws=10, ratio=False)[0] == pytest.approx(0.4)
    assert matched_value(runs, "hard_retain", IMPLANTED, FLOOR, 0.5, draws=10)[0] == pytest.approx(0.5)


def test_a_partial_grid_pools_the_budgets_every_split_has():
    full = Split(_runs({0.0: 0.8, 0.4: 0.4, 0.8: 0.2}, seeds=(0, 1)), IMPLANTED, FLOOR)
    partial = Split(_runs({0.0: 0.8, 0.4: 0.4}, seeds=(0,)), IMPLANTED, FLOOR)  # seed 1 and budget 0.8 not run yet
    xs, ys = pooled_curve([full, partial], "hard_retain")
    assert xs == pytest.approx([0.0, 0.5]) and ys == pytest.approx([1.0, 0.5])
    point, low, high = matched_value([full, partial], "hard_retain", x=0.25, draws=50)
    assert point == pytest.approx(0.75) and low <= point <= high


def test_a_task_scored_on_some_runs_only_is_read_from_those_runs():
    """The attacks run on one seed (and the implanted model): their curve is that seed's, x read
    from the same runs; the other seed's runs neither count nor break the bootstrap."""
    runs = _runs({0.0: 0.8, 0.4: 0.4, 0.8: 0.2}, seeds=(0,))
    # Seed 1 forgets less (x 0.25 at budget 0.4) and has no attack score.
    runs += [Run(0.4, 1, {"forget": np.full(10, 0.8), "hard_retain": np.full(10, 0.4)})]
    for run in runs:
        if run.seed == 0:
            run.scores["attack_gain"] = np.full(10, 0.1 + run.budget)  # grows with the budget
    xs, ys = curve(runs, "attack_gain", IMPLANTED, FLOOR, ratio=False)
    assert xs == pytest.approx([0.0, 0.5, 1.0]) and ys == pytest.approx([0.1, 0.5, 0.9])
    point, low, high = matched_value(runs, "attack_gain", IMPLANTED, FLOOR, x=0.5, draws=50, ratio=False)
    assert point == pytest.approx(0.5) and low == pytest.approx(0.5) and high == pytest.approx(0.5)
    # Hard Retain still reads both seeds at budget 0.4: x = mean of 0.5 and 0.25.
    xs, _ = curve(runs, "hard_retain", IMPLANTED, FLOOR)
    assert xs[1] == pytest.approx(0.375)
