"""Kept token ids as one-byte steps (teacher/id_steps.py): exact round trips, escapes where steps are long."""

import numpy as np

from causal_unlearn.teacher import id_steps


def test_rows_of_ascending_ids_round_trip_with_escapes_empty_rows_and_large_ids():
    rows = [[0, 1, 2, 300, 301, 554], [], [7], [254, 255, 509, 70000, 70001], [100000]]
    counts = np.array([len(row) for row in rows])
    flat = np.array([i for row in rows for i in row])
    steps, escapes = id_steps.encode(flat, counts)
    assert steps.dtype == np.uint8 and len(steps) == len(flat)
    # escaped: 300 (step 298), 554 (step 253: no), 509 (step 254: no), 70000, 100000 (row start)
    assert escapes.tolist() == [300, 70000, 100000]
    assert np.array_equal(id_steps.decode(steps, escapes, counts), flat)


def test_random_rows_round_trip_and_mostly_fit_one_byte():
    generator = np.random.default_rng(0)
    counts = generator.integers(0, 600, size=50)
    rows = [np.sort(generator.choice(49152, size=count, replace=False)) for count in counts]
    flat = np.concatenate(rows)
    steps, escapes = id_steps.encode(flat, counts)
    assert np.array_equal(id_steps.decode(steps, escapes, counts), flat)
    assert len(escapes) < 0.5 * len(flat)  # uniform draws are the worst case; teacher rows escape ~3%
