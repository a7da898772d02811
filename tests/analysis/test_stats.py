"""hybridrl.analysis.stats: hand-computed aggregates, agreement with rliable, bad input.

rliable (a test-only dependency, see pyproject's `test` extra) is the reference
implementation of Agarwal et al. 2021. Two kinds of agreement are checked:

* Same resamples. rliable draws its resampling indices from NumPy's global
  RandomState; passing ``seed=np.random.RandomState(s)`` to hybridrl after
  ``np.random.seed(s)`` gives both the very same resamples, so every point
  estimate and interval must agree to rounding (1e-9). This checks the
  definitions, the stratification, the percentile rule and every BCa detail
  with few repetitions (rliable's Python loop costs ~0.1-3 ms a repetition).
* Independent resamples. hybridrl's default integer seed and rliable's own
  stream must agree within Monte-Carlo error (see ``_mc_tolerance``).
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats

from hybridrl.analysis import (
    AGGREGATES,
    Interval,
    iqm,
    mean,
    median,
    optimality_gap,
    performance_profile,
    probability_of_improvement,
    stratified_bootstrap,
)

rly = pytest.importorskip("rliable.library")
rmetrics = pytest.importorskip("rliable.metrics")

# rliable's aggregate functions, scores in fractions with gamma = 1.
RLIABLE_AGGREGATES = {
    "iqm": rmetrics.aggregate_iqm,
    "mean": rmetrics.aggregate_mean,
    "median": rmetrics.aggregate_median,
    "optimality_gap": lambda s: rmetrics.aggregate_optimality_gap(s, gamma=1.0),
}


@pytest.fixture(scope="module")
def scores() -> dict[str, np.ndarray]:
    """Two algorithms, 10 runs x 5 tasks, normalized scores around 0-1.2 (some above gamma = 1)."""
    rng = np.random.default_rng(2021)
    return {
        "cql": rng.uniform(0.0, 1.2, size=(10, 5)),
        "iql": 1.3 * rng.beta(2.0, 3.0, size=(10, 5)) + np.linspace(0.0, 0.2, 5),
    }


def _rliable_intervals(x: np.ndarray, func, reps: int, seed: int):
    """rliable's point, percentile and BCa intervals from one bootstrap (arch reuses the resamples for BCa)."""
    np.random.seed(seed)
    bs = rly.StratifiedBootstrap(x)
    percentile = bs.conf_int(func, reps=reps, size=0.95, method="percentile")
    bca = bs.conf_int(func, reps=reps, size=0.95, method="bca", reuse=True)
    return func(x), percentile, bca


# ---------------------------------------------------------------- hand-computed
def test_aggregates_by_hand_with_ties():
    s = np.array([[1.0, 5.0], [2.0, 5.0], [2.0, 7.0], [9.0, 3.0]])  # 4 runs x 2 tasks
    # IQM: N = 8 scores sorted 1 2 2 3 5 5 7 9; drop floor(8/4) = 2 at each end -> 2 3 5 5 -> 15/4.
    assert iqm(s) == 3.75
    # Task means: (1+2+2+9)/4 = 3.5 and (5+5+7+3)/4 = 5.0.
    assert mean(s) == 4.25  # (3.5 + 5.0) / 2
    assert median(s) == 4.25  # median of the two task means, not of the 8 scores (which is 4.0)
    # gamma = 5: shortfalls max(5 - s, 0) = 4 3 3 0 | 0 0 0 2 -> 12 / 8.
    assert optimality_gap(s, gamma=5.0) == 1.5
    # Default gamma = 100 (the expert, hybridrl's percent units): every score is short by 100 - s -> 100 - 4.25.
    assert optimality_gap(s) == 95.75


def test_aggregates_by_hand_one_task():
    s = np.array([[0.0], [1.0], [1.0], [1.0], [2.0], [3.0], [4.0], [4.0], [8.0], [50.0]])  # 10 runs x 1 task
    # N = 10: drop floor(10/4) = 2 at each end (0 1 | ... | 8 50) -> keep 1 1 2 3 4 4 -> 15/6. Six of ten are kept.
    assert iqm(s) == 2.5
    assert mean(s) == 7.4  # 74 / 10
    assert median(s) == 7.4  # the median of one task mean is that mean
    assert optimality_gap(s, gamma=4.0) == 1.6  # shortfalls 4 3 3 3 2 1 0 0 0 0 -> 16 / 10


def test_iqm_keeps_everything_below_four_scores_and_matches_scipy():
    assert iqm(np.array([[5.0], [1.0], [3.0]])) == 3.0  # N = 3: floor(3/4) = 0 dropped, mean of all
    rng = np.random.default_rng(0)
    for shape in [(1, 1), (2, 3), (5, 3), (7, 9), (10, 9)]:
        x = rng.normal(size=shape).round(1)  # rounding makes ties
        assert iqm(x) == pytest.approx(scipy.stats.trim_mean(x, 0.25, axis=None), abs=1e-12)


# -------------------------------------------------------- agreement with rliable
def test_point_estimates_equal_rliable(scores):
    ours = {"iqm": iqm, "mean": mean, "median": median, "optimality_gap": lambda s: optimality_gap(s, gamma=1.0)}
    for x in scores.values():
        for name, func in RLIABLE_AGGREGATES.items():
            assert ours[name](x) == pytest.approx(func(x), abs=1e-12), name
    x, y = scores["cql"], scores["iql"]
    assert probability_of_improvement(x, y, reps=10).point == pytest.approx(
        rmetrics.probability_of_improvement(x, y), abs=1e-12
    )
    assert probability_of_improvement(x[:7], y, reps=10).point == pytest.approx(
        rmetrics.probability_of_improvement(x[:7], y), abs=1e-12
    )
    # 0-100 units with gamma = 100 is rliable's gamma = 1 on fractions, times 100.
    assert optimality_gap(100 * x) == pytest.approx(100 * rmetrics.aggregate_optimality_gap(x, gamma=1), abs=1e-10)


def test_intervals_equal_rliable_on_the_same_resamples(scores):
    reps = 1000
    for i, (algo, x) in enumerate(scores.items()):
        for j, name in enumerate(AGGREGATES):
            func = RLIABLE_AGGREGATES[name]
            point, r_pct, r_bca = _rliable_intervals(x, lambda s: np.array([func(s)]), reps, seed=10 * i + j)
            for method, r_ci in [("percentile", r_pct), ("bca", r_bca)]:
                got = stratified_bootstrap(
                    {algo: x}, [name], reps=reps, method=method, seed=np.random.RandomState(10 * i + j), gamma=1.0
                )[algo][name]
                assert got.point == pytest.approx(point[0], abs=1e-12)
                assert (got.low, got.high) == pytest.approx(tuple(r_ci[:, 0]), abs=1e-9), (algo, name, method)


def test_bca_with_many_ties_equals_rliable_on_the_same_resamples():
    """Scores on a 0.05 grid, 3 runs: many resamples have exactly the point's median or mean.

    hybridrl counts those as equal to the point (not below it) in z0; arch compares floats, so
    its count depends on summation order. Rounding rliable's statistic to 1e-12 makes its
    comparison exact too, and then the two agree.
    """
    x = (np.random.default_rng(5).normal(0.5, 0.3, size=(3, 7)) / 0.05).round() * 0.05
    reps = 400
    for k, name in enumerate(("median", "mean", "iqm")):
        func = RLIABLE_AGGREGATES[name]
        _, _, r_bca = _rliable_intervals(x, lambda s: np.array([round(func(s), 12)]), reps, seed=k)
        got = stratified_bootstrap({"a": x}, [name], reps=reps, method="bca", seed=np.random.RandomState(k))["a"][name]
        assert (got.low, got.high) == pytest.approx(tuple(r_bca[:, 0]), abs=1e-9), name


def test_get_interval_estimates_order_matches(scores):
    """rliable's entry point, all aggregates in one function, algorithms drawn one after another."""
    reps = 500
    func = lambda s: np.array([RLIABLE_AGGREGATES[n](s) for n in AGGREGATES])  # noqa: E731
    np.random.seed(3)
    points, cis = rly.get_interval_estimates(scores, func, method="percentile", reps=reps)
    ours = stratified_bootstrap(scores, reps=reps, seed=np.random.RandomState(3), gamma=1.0)
    for algo in scores:
        got = np.array([ours[algo][n] for n in AGGREGATES])  # rows (point, low, high)
        np.testing.assert_allclose(got[:, 0], points[algo], atol=1e-12)
        np.testing.assert_allclose(got[:, 1:].T, cis[algo], atol=1e-9)


def test_probability_of_improvement_equals_rliable_on_the_same_resamples(scores):
    x, y = scores["cql"][:6, :3], scores["iql"][:6, :3]  # small: rliable's Mann-Whitney loop is ~1 ms a task
    reps = 300
    # Rounding to 1e-12 makes the lattice of values P(X>Y) can take exact, so arch's strict "<" in the BCa
    # bias correction does not depend on its summation order (hybridrl counts such ties as equal by design).
    func = lambda a, b: np.array([round(rmetrics.probability_of_improvement(a, b), 12)])  # noqa: E731
    np.random.seed(11)
    bs = rly.StratifiedIndependentBootstrap(x, y)
    r_pct = bs.conf_int(func, reps=reps, method="percentile")
    r_bca = bs.conf_int(func, reps=reps, method="bca", reuse=True)
    for method, r_ci in [("percentile", r_pct), ("bca", r_bca)]:
        got = probability_of_improvement(x, y, reps=reps, method=method, seed=np.random.RandomState(11))
        assert got.point == pytest.approx(func(x, y)[0], abs=1e-12)
        assert (got.low, got.high) == pytest.approx(tuple(r_ci[:, 0]), abs=1e-9), method


def test_performance_profile_equals_rliable_on_the_same_resamples(scores):
    taus = np.linspace(0.0, 1.3, 27)
    np.random.seed(5)
    profiles, bands = rly.create_performance_profile(scores, taus, reps=500)
    ours = performance_profile(scores, taus, reps=500, seed=np.random.RandomState(5))
    for algo in scores:
        np.testing.assert_allclose(ours[algo].profile, profiles[algo], atol=1e-12)
        np.testing.assert_allclose(np.stack([ours[algo].low, ours[algo].high]), bands[algo], atol=1e-9)


def _mc_tolerance(ours: Interval) -> float:
    """How far two independent bootstraps' interval ends may differ: 5% of the interval's width.

    The 2.5% quantile of B bootstrap values of a roughly normal statistic with
    spread sigma has standard error sqrt(.025 * .975 / B) / phi(1.96) * sigma =
    2.67 sigma / sqrt(B). rliable uses B = 5,000 here (0.038 sigma), hybridrl
    50,000 (0.012 sigma): the difference has standard error 0.040 sigma =
    0.010 of the interval's width (3.92 sigma). BCa adds the noise of z0
    (SE ~ sqrt(p(1-p)/B) / phi(z0) = 0.018 for B = 5,000, moving the ends by
    about as much times sigma): ~0.011 of the width together. 5% of the width
    is > 4 standard errors, so a real difference in definitions (a different
    trimming rule, no stratification, no BCa correction) fails, and noise does not.
    """
    return 0.05 * (ours.high - ours.low)


@pytest.mark.parametrize("name", AGGREGATES)
def test_intervals_agree_with_rliable_within_monte_carlo_error(scores, name):
    x = scores["iql"]
    func = RLIABLE_AGGREGATES[name]
    _, r_pct, r_bca = _rliable_intervals(x, lambda s: np.array([func(s)]), reps=5000, seed=123)
    for method, r_ci in [("percentile", r_pct), ("bca", r_bca)]:
        ours = stratified_bootstrap({"iql": x}, [name], reps=50_000, method=method, seed=0, gamma=1.0)["iql"][name]
        tol = _mc_tolerance(ours)
        assert abs(ours.low - r_ci[0, 0]) < tol and abs(ours.high - r_ci[1, 0]) < tol, (method, ours, r_ci.ravel(), tol)


# ---------------------------------------------------------------- behaviour
def test_stratified_resampling_keeps_tasks_apart():
    # Every run of a task has the same score: any within-task resample is the matrix itself, so each interval is
    # its point. Resampling across tasks would mix 0s and 10s and widen them.
    x = np.tile([0.0, 10.0, 4.0], (6, 1))
    for method in ("percentile", "bca"):
        out = stratified_bootstrap({"a": x}, reps=200, method=method)["a"]
        for name, ci in out.items():
            assert ci.low == ci.point == ci.high, name
    one_run = stratified_bootstrap({"a": np.array([[1.0, 2.0, 3.0]])}, reps=100, method="bca")["a"]
    assert one_run["iqm"] == (2.0, 2.0, 2.0)


def test_seeds_are_reproducible_and_per_algorithm(scores):
    a = stratified_bootstrap({"cql": scores["cql"]}, reps=2000, seed=7)
    b = stratified_bootstrap({"iql": scores["iql"], "cql": scores["cql"]}, reps=2000, seed=7)
    assert a["cql"] == b["cql"]  # adding or reordering algorithms does not change an algorithm's interval
    c = stratified_bootstrap({"cql": scores["cql"]}, reps=2000, seed=8)
    assert c["cql"]["iqm"] != a["cql"]["iqm"]
    for ci in a["cql"].values():
        assert ci.low <= ci.point <= ci.high


def test_profile_band_is_degenerate_outside_the_scores(scores):
    out = performance_profile(scores, [-1.0, 0.5, 10.0], reps=1000, method="bca")["cql"]
    assert (out.profile[0], out.low[0], out.high[0]) == (1.0, 1.0, 1.0)
    assert (out.profile[2], out.low[2], out.high[2]) == (0.0, 0.0, 0.0)
    assert out.low[1] < out.profile[1] < out.high[1]


def test_probability_of_improvement_unequal_runs_and_identical_inputs(scores):
    x, y = scores["cql"], scores["iql"][:4]
    ci = probability_of_improvement(x, y, reps=2000)
    assert 0.0 <= ci.low <= ci.point <= ci.high <= 1.0
    same = probability_of_improvement(x, x, reps=500)
    assert same.point == 0.5


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: iqm(np.zeros((0, 3))), "scores is empty (shape (0, 3)); it needs at least one run and one task"),
        (
            lambda: mean(np.arange(10.0)),
            "scores must be a 2-D (runs, tasks) matrix, got shape (10,); for one task pass shape (runs, 1)",
        ),
        (
            lambda: stratified_bootstrap({"a": np.ones((3, 2, 2))}),
            "scores for 'a' must be a 2-D (runs, tasks) matrix, got shape (3, 2, 2); for one task pass shape (runs, 1)",
        ),
        (
            lambda: stratified_bootstrap({"a": [[1.0, 2.0, 3.0], [1.0, 2.0, np.nan]]}),
            "scores for 'a' contains NaN at run 1, task 2; drop or re-run that run first",
        ),
        (
            lambda: median([[1.0, np.inf]]),
            "scores contains inf at run 0, task 1; drop or re-run that run first",
        ),
        (
            lambda: stratified_bootstrap({"a": np.ones((5, 3)), "b": np.ones((5, 4))}),
            "mismatched tasks: 'a' has 3 tasks, 'b' has 4; every algorithm needs the same tasks in the same order",
        ),
        (
            lambda: probability_of_improvement(np.ones((5, 3)), np.ones((5, 4))),
            "mismatched tasks: 'x' has 3 tasks, 'y' has 4; every algorithm needs the same tasks in the same order",
        ),
        (lambda: stratified_bootstrap({}), "scores_by_algo is empty; pass at least one algorithm's (runs, tasks) matrix"),
        (
            lambda: stratified_bootstrap({"a": np.ones((5, 3))}, ["iqm", "max"]),
            "unknown aggregate 'max'; choose from 'iqm', 'mean', 'median', 'optimality_gap'",
        ),
        (
            lambda: stratified_bootstrap({"a": np.ones((5, 3))}, method="bc"),
            "method must be 'percentile' or 'bca', got 'bc'",
        ),
        (lambda: stratified_bootstrap({"a": np.ones((5, 3))}, reps=0), "reps must be a positive integer, got 0"),
        (
            lambda: stratified_bootstrap({"a": np.ones((5, 3))}, confidence=95),
            "confidence must be strictly between 0 and 1 (0.95 for a 95% interval), got 95",
        ),
        (
            lambda: probability_of_improvement(np.ones((5, 3)), np.ones((4, 3)), method="bca"),
            "BCa for probability_of_improvement needs as many runs of x as of y (x has 5, y has 4); "
            "use method='percentile'",
        ),
        (
            lambda: optimality_gap(np.ones((5, 3)), gamma=float("nan")),
            "gamma must be a finite number in the scores' unit (100 for hybridrl's normalized scores), got nan",
        ),
        (  # one repetition, drawn (run 1, run 1): above the point 0.5 and no value below it
            lambda: stratified_bootstrap({"a": [[0.0], [1.0]]}, ["mean"], reps=1, method="bca", seed=3),
            "BCa interval for 'mean' of 'a' is undefined: every bootstrap value lies above the point estimate; "
            "use method='percentile'",
        ),
        (
            lambda: performance_profile({"a": np.ones((5, 3))}, []),
            "taus must be a non-empty 1-D array of finite thresholds, got []",
        ),
    ],
)
def test_bad_input_messages(call, message):
    with pytest.raises(ValueError) as err:
        call()
    assert str(err.value) == message
