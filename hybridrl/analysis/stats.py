"""Aggregate scores over runs and tasks, with stratified-bootstrap intervals.

Definitions follow Agarwal et al. 2021, "Deep Reinforcement Learning at the Edge
of the Statistical Precipice" (NeurIPS), and agree with its reference
implementation, rliable 1.2, on the same inputs (``tests/analysis/test_stats.py``
checks both). Every input is a ``(runs, tasks)`` matrix of scores, one per
algorithm; NumPy and SciPy only.

Point aggregates of a ``(runs, tasks)`` matrix ``S`` with ``N = runs * tasks``:

* ``mean``: mean over tasks of the per-task mean over runs.
* ``median``: median over tasks of the per-task mean over runs (not the median
  of all N scores; this is the paper's and rliable's definition).
* ``iqm``: interquartile mean, ``scipy.stats.trim_mean(S, 0.25, axis=None)``:
  sort all N scores, drop the ``floor(N / 4)`` lowest and the ``floor(N / 4)``
  highest, average the rest. When N is not a multiple of 4 slightly more than
  half the scores are kept (N = 10 keeps 6); there is no fractional weighting.
* ``optimality_gap``: ``mean(max(gamma - S, 0))`` over all N scores, i.e. how
  far below ``gamma`` the scores fall on average; scores above ``gamma`` count 0.

Units. hybridrl's normalized score (``hybridrl.envs.normalized_score``) is in
percent: 0 is the random policy, 100 the expert. Pass those scores as they are;
``gamma`` defaults to 100, the expert. rliable's examples use scores in
fractions and ``gamma=1``; on the same runs ``optimality_gap(100 * s, gamma=100)``
is ``100 * rliable.metrics.aggregate_optimality_gap(s, gamma=1)``. Mean,
median, IQM and probability of improvement do not depend on the unit; the
``taus`` of a performance profile are in the scores' unit.

Stratified bootstrap. One repetition resamples, within each task (column)
independently, ``runs`` runs with replacement, and recomputes the aggregate.
Tasks are never resampled. Resamples are drawn in blocks and each block is
evaluated at once as a matrix of resampling counts (no Python loop per
repetition): 50,000 repetitions over a 10 x 9 matrix take well under a second.

Intervals, at level ``confidence`` with ``alpha = (1 - confidence) / 2``:

* ``"percentile"``: the ``alpha`` and ``1 - alpha`` quantiles of the bootstrap
  values (``numpy.percentile``, linear interpolation).
* ``"bca"``: bias-corrected and accelerated (Efron 1987), as the ``arch``
  package computes it for rliable: ``z0 = Phi^-1(fraction of bootstrap values
  strictly below the point estimate)``; acceleration
  ``a = sum(u^3) / (6 * sum(u^2)^1.5)`` with ``u = mean(J) - J`` over the
  leave-one-run-out jackknife values ``J`` (run ``i`` is removed from every
  task at once, so the jackknife has ``runs`` values); the quantile levels
  ``Phi(z0 + (z0 + z) / (1 - a * (z0 + z)))`` for ``z = Phi^-1(alpha),
  Phi^-1(1 - alpha)``. Two differences from arch 7.2: (1) arch centres ``u``
  on the mean over *all* outputs of a multi-output statistic, so rliable's BCa
  intervals change with what else is computed in the same call (up to ~7% of
  the interval's width for IQM, mean, median and optimality gap together);
  here each aggregate, threshold or comparison is centred on its own mean,
  which is rliable called with one aggregate at a time. (2) A bootstrap value
  within ``1e-12 * max|score|`` of the point estimate counts as equal, not
  below, so summation-order rounding does not move ``z0``; this matters only
  for statistics with many exact ties (probability of improvement, profiles).
  When every bootstrap value equals the point estimate (one run; a threshold
  outside the scores) the interval is the point. When all differ but lie on
  one side, BCa is undefined and a ``ValueError`` says to use "percentile".

Random numbers. ``seed`` is an int (default 0) or a NumPy ``Generator`` /
``RandomState``. With an int, each algorithm draws from its own stream,
``numpy.random.default_rng([seed, crc32(name)])``, so its interval does not
change when other algorithms are added or reordered (probability of
improvement uses ``default_rng(seed)``). With a generator, the
algorithms draw from it one after another in the dict's order; a
``RandomState`` seeded like ``numpy.random.seed`` reproduces rliable's
resamples exactly (for probability of improvement when both have as many
runs); the tests use this.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

import numpy as np
from scipy import stats as _sps

__all__ = [
    "AGGREGATES",
    "Interval",
    "Profile",
    "iqm",
    "mean",
    "median",
    "optimality_gap",
    "performance_profile",
    "probability_of_improvement",
    "stratified_bootstrap",
]

AGGREGATES: tuple[str, ...] = ("iqm", "mean", "median", "optimality_gap")
METHODS: tuple[str, ...] = ("percentile", "bca")

# A block of repetitions holds about this many resampled scores (256 KB per
# float64 array): the block's arrays stay in cache. Measured on a 10 x 9 matrix,
# 2**15 is 3-4x faster than 2**16 or 2**20.
_BLOCK_ELEMENTS = 1 << 15
_MIN_BLOCK_REPS = 16
# Bootstrap values this close to the point estimate (relative to the largest
# |score|) count as equal to it: summation-order rounding, not a difference.
_TIE_RTOL = 1e-12


class Interval(NamedTuple):
    """A point estimate and its confidence interval."""

    point: float
    low: float
    high: float


class Profile(NamedTuple):
    """A performance profile at each threshold, with its pointwise confidence band."""

    profile: np.ndarray
    low: np.ndarray
    high: np.ndarray


RandomSource = int | np.random.Generator | np.random.RandomState


# ----------------------------------------------------------------- validation
def _matrix(scores, label: str = "scores") -> np.ndarray:
    """The scores as a finite float64 (runs, tasks) matrix, or a one-line ValueError."""
    try:
        x = np.asarray(scores, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{label} must be numbers: {err}") from None
    if x.ndim != 2:
        raise ValueError(
            f"{label} must be a 2-D (runs, tasks) matrix, got shape {x.shape}; for one task pass shape (runs, 1)"
        )
    if x.size == 0:
        raise ValueError(f"{label} is empty (shape {x.shape}); it needs at least one run and one task")
    bad = ~np.isfinite(x)
    if bad.any():
        run, task = (int(i) for i in np.argwhere(bad)[0])
        what = "NaN" if np.isnan(x[run, task]) else "inf"
        raise ValueError(f"{label} contains {what} at run {run}, task {task}; drop or re-run that run first")
    return x


def _matrices(scores_by_algo: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    if not isinstance(scores_by_algo, Mapping):
        raise ValueError(
            "scores_by_algo must be a dict of algorithm name -> (runs, tasks) matrix, "
            f"got {type(scores_by_algo).__name__}"
        )
    if not scores_by_algo:
        raise ValueError("scores_by_algo is empty; pass at least one algorithm's (runs, tasks) matrix")
    out = {str(name): _matrix(x, f"scores for {str(name)!r}") for name, x in scores_by_algo.items()}
    first = next(iter(out))
    for name, x in out.items():
        _same_tasks(first, out[first], name, x)
    return out


def _same_tasks(name_a: str, a: np.ndarray, name_b: str, b: np.ndarray) -> None:
    if a.shape[1] != b.shape[1]:
        raise ValueError(
            f"mismatched tasks: {name_a!r} has {a.shape[1]} tasks, {name_b!r} has {b.shape[1]}; "
            "every algorithm needs the same tasks in the same order"
        )


def _check_options(reps: int, method: str, confidence: float) -> None:
    if isinstance(reps, bool) or not isinstance(reps, (int, np.integer)) or reps < 1:
        raise ValueError(f"reps must be a positive integer, got {reps!r}")
    if method not in METHODS:
        raise ValueError(f"method must be 'percentile' or 'bca', got {method!r}")
    if not (isinstance(confidence, (int, float, np.floating)) and 0.0 < confidence < 1.0):
        raise ValueError(f"confidence must be strictly between 0 and 1 (0.95 for a 95% interval), got {confidence!r}")


def _aggregate_names(aggregates) -> tuple[str, ...]:
    names = (aggregates,) if isinstance(aggregates, str) else tuple(aggregates)
    if not names:
        raise ValueError(f"aggregates is empty; choose from {', '.join(map(repr, AGGREGATES))}")
    for name in names:
        if name not in AGGREGATES:
            raise ValueError(f"unknown aggregate {name!r}; choose from {', '.join(map(repr, AGGREGATES))}")
    return tuple(dict.fromkeys(names))


def _rng_for(seed: RandomSource, name: str | None = None):
    if isinstance(seed, (np.random.Generator, np.random.RandomState)):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int or a numpy Generator/RandomState, got {seed!r}")
    key = [int(seed)] if name is None else [int(seed), zlib.crc32(name.encode())]
    return np.random.default_rng(key)


# ------------------------------------------------------------ point aggregates
def mean(scores) -> float:
    """Mean over tasks of the mean over runs of a (runs, tasks) matrix."""
    x = _matrix(scores)
    return float(np.mean(np.mean(x, axis=0)))


def median(scores) -> float:
    """Median over tasks of the mean over runs of a (runs, tasks) matrix."""
    x = _matrix(scores)
    return float(np.median(np.mean(x, axis=0)))


def iqm(scores) -> float:
    """Interquartile mean of all N run x task scores: sort, drop floor(N/4) at each end, average the rest."""
    x = np.sort(_matrix(scores), axis=None)
    cut = x.size // 4
    return float(np.mean(x[cut : x.size - cut]))


def optimality_gap(scores, gamma: float = 100.0) -> float:
    """Mean over all run x task scores of max(gamma - score, 0); gamma=100 is the expert in hybridrl's units."""
    x = _matrix(scores)
    return float(np.mean(np.maximum(_gamma(gamma) - x, 0.0)))


def _gamma(gamma) -> float:
    if isinstance(gamma, bool) or not isinstance(gamma, (int, float, np.integer, np.floating)) or not np.isfinite(gamma):
        raise ValueError(
            f"gamma must be a finite number in the scores' unit (100 for hybridrl's normalized scores), got {gamma!r}"
        )
    return float(gamma)


_POINT: dict[str, Callable[..., float]] = {"iqm": iqm, "mean": mean, "median": median}


def _point(name: str, x: np.ndarray, gamma: float) -> float:
    return optimality_gap(x, gamma) if name == "optimality_gap" else _POINT[name](x)


# ------------------------------------------------ aggregates of weighted resamples
# A resample of a (runs, tasks) matrix is given by counts: how many times each
# score was drawn in each repetition (the counts of a task sum to m, the runs
# drawn per task: m = runs for the bootstrap, runs - 1 for the jackknife that
# leaves one run out). Counts are laid out in the order of the sorted scores,
# w[b, k] for the k-th smallest score, so every aggregate is a matrix product or
# a cumulative sum over rows: no sort and no Python loop per repetition.
class _Sorted(NamedTuple):
    values: np.ndarray  # (N,) all scores, ascending (stable)
    rank: np.ndarray  # (N,) rank[r * tasks + t] = position of score (r, t) in values
    run: np.ndarray  # (N,) run of each sorted score
    task: np.ndarray  # (N,) task of each sorted score


def _sorted(x: np.ndarray) -> _Sorted:
    order = np.argsort(x, axis=None, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    return _Sorted(x.ravel()[order], rank, order // x.shape[1], order % x.shape[1])


def _weighted_iqm(w: np.ndarray, values: np.ndarray, total: int) -> np.ndarray:
    """Trimmed mean of each row's multiset (w[b, k] copies of values[k], total copies): floor(total/4) cut at each end.

    Copy j (0-based, in sorted order) is kept when lo <= j < hi. With c the
    cumulative counts, value k keeps clip(c_k, lo, hi) - clip(c_(k-1), lo, hi)
    copies; summing by parts gives sum_k clip(c_k) (v_k - v_(k+1)) + hi v_last - lo v_0.
    """
    cut = total // 4
    lo, hi = cut, total - cut
    kept_upto = np.clip(np.cumsum(w, axis=1), lo, hi)
    return (kept_upto[:, :-1] @ (values[:-1] - values[1:]) + hi * values[-1] - lo * values[0]) / (hi - lo)


def _aggregate_stat(x: np.ndarray, names: Sequence[str], gamma: float):
    """f(w, m) -> (B, len(names)): the aggregates of the resamples given by sorted-layout counts w (B, N)."""
    tasks = x.shape[1]
    s = _sorted(x)
    by_task = np.zeros((s.values.size, tasks))
    by_task[np.arange(s.values.size), s.task] = s.values  # w @ by_task: per-task sums
    shortfall = np.maximum(gamma - s.values, 0.0)

    def stat(w: np.ndarray, m: int) -> np.ndarray:
        task_means = w @ by_task / m if {"mean", "median"} & set(names) else None
        out = np.empty((w.shape[0], len(names)))
        for j, name in enumerate(names):
            if name == "mean":
                out[:, j] = task_means.mean(axis=1)
            elif name == "median":
                out[:, j] = np.median(task_means, axis=1)
            elif name == "optimality_gap":
                out[:, j] = w @ shortfall / (m * tasks)
            else:
                out[:, j] = _weighted_iqm(w, s.values, m * tasks)
        return out

    return stat


def _profile_stat(x: np.ndarray, taus: np.ndarray):
    """f(w, m) -> (B, len(taus)): fraction of resampled scores strictly above each tau."""
    tasks = x.shape[1]
    values = _sorted(x).values
    at_most = np.searchsorted(values, taus, side="right")  # sorted scores [0, at_most) are <= tau

    def stat(w: np.ndarray, m: int) -> np.ndarray:
        upto = np.concatenate([np.zeros((w.shape[0], 1)), np.cumsum(w, axis=1)], axis=1)
        total = m * tasks
        return (total - upto[:, at_most]) / total

    return stat


# ------------------------------------------------------------------ resampling
def _draw(rng, high: int, shape: tuple[int, ...]) -> np.ndarray:
    if isinstance(rng, np.random.RandomState):
        return rng.randint(0, high, size=shape)
    return rng.integers(0, high, size=shape)


def _counts(idx: np.ndarray, rank: np.ndarray) -> np.ndarray:
    """idx[b, k, t]: the run drawn k-th for task t -> counts (B, N) with w[b, rank[r * tasks + t]] = #draws of (r, t)."""
    b, _, tasks = idx.shape
    n = rank.size
    flat = np.take(rank, idx * tasks + np.arange(tasks))
    flat += (np.arange(b) * n).reshape(b, 1, 1)
    return np.bincount(flat.ravel(), minlength=b * n).reshape(b, n).astype(np.float64)


def _bootstrap(stat, x: np.ndarray, reps: int, rng) -> np.ndarray:
    """(reps, K) bootstrap values of stat over stratified resamples of x (runs, tasks), in blocks."""
    runs, tasks = x.shape
    rank = _sorted(x).rank
    block = max(_MIN_BLOCK_REPS, _BLOCK_ELEMENTS // x.size)
    parts = []
    for start in range(0, reps, block):
        b = min(block, reps - start)
        parts.append(stat(_counts(_draw(rng, runs, (b, runs, tasks)), rank), runs))
    return np.concatenate(parts)


def _jackknife(stat, x: np.ndarray) -> np.ndarray:
    """(runs, K): stat with run i left out of every task, for each i."""
    runs = x.shape[0]
    w = (_sorted(x).run[None, :] != np.arange(runs)[:, None]).astype(np.float64)
    return stat(w, runs - 1)


# ------------------------------------------------------------------- intervals
def _intervals(point, boot, method, confidence, jackknife, scale, labels) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper bounds (K,) from point (K,) and bootstrap values (reps, K).

    jackknife() -> (n, K) leave-one-out values, called only for BCa; labels(k)
    names column k in errors.
    """
    alpha = (1.0 - confidence) / 2.0
    if method == "percentile":
        low, high = np.percentile(boot, [100 * alpha, 100 * (1 - alpha)], axis=0)
        return low, high
    tol = _TIE_RTOL * max(scale, float(np.abs(point).max()), np.finfo(np.float64).tiny)
    below = (boot < point - tol).mean(axis=0)
    equal = (np.abs(boot - point) <= tol).all(axis=0)
    low, high = point.astype(np.float64).copy(), point.astype(np.float64).copy()
    todo = np.flatnonzero(~equal)
    if todo.size == 0:
        return low, high
    for k in todo:
        if below[k] in (0.0, 1.0):
            side = "above" if below[k] == 0.0 else "below"
            raise ValueError(
                f"BCa interval for {labels(k)} is undefined: every bootstrap value lies {side} the point estimate; "
                "use method='percentile'"
            )
    jk = jackknife()[:, todo]
    u = jk.mean(axis=0) - jk
    num, den = np.sum(u**3, axis=0), 6.0 * np.sum(u**2, axis=0) ** 1.5
    accel = np.divide(num, den, out=np.zeros_like(num), where=den > 0)
    z0 = _sps.norm.ppf(below[todo])
    z = _sps.norm.ppf([alpha, 1.0 - alpha])
    zz = z0[:, None] + z[None, :]
    levels = _sps.norm.cdf(z0[:, None] + zz / (1.0 - accel[:, None] * zz))
    for j, k in enumerate(todo):
        low[k], high[k] = np.percentile(boot[:, k], 100 * levels[j])
    return low, high


# ------------------------------------------------------------------ public API
def stratified_bootstrap(
    scores_by_algo: Mapping[str, np.ndarray],
    aggregates: str | Sequence[str] = AGGREGATES,
    reps: int = 50_000,
    method: str = "percentile",
    confidence: float = 0.95,
    seed: RandomSource = 0,
    gamma: float = 100.0,
) -> dict[str, dict[str, Interval]]:
    """Point estimates and stratified-bootstrap confidence intervals of aggregates.

    scores_by_algo: algorithm name -> (runs, tasks) score matrix; every
    algorithm has the same tasks in the same order (runs may differ).
    aggregates: names from AGGREGATES ("iqm", "mean", "median", "optimality_gap").
    method: "percentile" or "bca". gamma: threshold of the optimality gap, in
    the scores' unit (100 = expert for hybridrl's normalized scores).

    Returns {algo: {aggregate: Interval(point, low, high)}}. All aggregates of an
    algorithm are computed on the same resamples.
    """
    mats = _matrices(scores_by_algo)
    names = _aggregate_names(aggregates)
    _check_options(reps, method, confidence)
    gamma = _gamma(gamma)
    out: dict[str, dict[str, Interval]] = {}
    for algo, x in mats.items():
        stat = _aggregate_stat(x, names, gamma)
        point = np.array([_point(name, x, gamma) for name in names])
        boot = _bootstrap(stat, x, reps, _rng_for(seed, algo))
        low, high = _intervals(
            point, boot, method, confidence,
            jackknife=lambda: _jackknife(stat, x),
            scale=float(np.abs(x).max()),
            labels=lambda k: f"{names[k]!r} of {algo!r}",
        )
        out[algo] = {n: Interval(float(p), float(lo), float(hi)) for n, p, lo, hi in zip(names, point, low, high)}
    return out


def performance_profile(
    scores_by_algo: Mapping[str, np.ndarray],
    taus,
    reps: int = 50_000,
    method: str = "percentile",
    confidence: float = 0.95,
    seed: RandomSource = 0,
) -> dict[str, Profile]:
    """Run-score performance profile with stratified-bootstrap bands.

    The profile at tau is the fraction of all run x task scores strictly above
    tau (equivalently, the mean over tasks of the fraction of runs above tau),
    rliable's default "score distribution". taus: 1-D thresholds in the scores'
    unit. Returns {algo: Profile(profile, low, high)}, arrays shaped like taus;
    the band is pointwise in tau.
    """
    mats = _matrices(scores_by_algo)
    _check_options(reps, method, confidence)
    try:
        t = np.atleast_1d(np.asarray(taus, dtype=np.float64))
    except (TypeError, ValueError):
        t = np.empty((0,))
    if t.ndim != 1 or t.size == 0 or not np.isfinite(t).all():
        raise ValueError(f"taus must be a non-empty 1-D array of finite thresholds, got {taus!r}")
    out: dict[str, Profile] = {}
    for algo, x in mats.items():
        stat = _profile_stat(x, t)
        point = (x.reshape(-1, 1) > t).mean(axis=0)
        boot = _bootstrap(stat, x, reps, _rng_for(seed, algo))
        low, high = _intervals(
            point, boot, method, confidence,
            jackknife=lambda: _jackknife(stat, x),
            scale=1.0,
            labels=lambda k: f"tau={t[k]!r} of {algo!r}",
        )
        out[algo] = Profile(point, low, high)
    return out


def _poi_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(tasks, runs_x, runs_y): 1 where x beats y, 1/2 on a tie, 0 otherwise."""
    xt, yt = x.T[:, :, None], y.T[:, None, :]
    return (xt > yt) + 0.5 * (xt == yt)


def probability_of_improvement(
    x,
    y,
    reps: int = 50_000,
    method: str = "percentile",
    confidence: float = 0.95,
    seed: RandomSource = 0,
) -> Interval:
    """P(X > Y): the probability that a run of X beats a run of Y on a task, averaged over tasks.

    Per task it is the Mann-Whitney U statistic of X over Y divided by
    runs_x * runs_y (a tie counts 1/2). x: (runs_x, tasks), y: (runs_y, tasks),
    same tasks in the same order. The interval resamples X's and Y's runs
    independently within each task. BCa needs runs_x == runs_y (its jackknife
    leaves run i out of both, as rliable does).
    """
    x, y = _matrix(x, "scores for 'x'"), _matrix(y, "scores for 'y'")
    _same_tasks("x", x, "y", y)
    _check_options(reps, method, confidence)
    (rx, tasks), ry = x.shape, y.shape[0]
    if method == "bca" and rx != ry:
        raise ValueError(
            f"BCa for probability_of_improvement needs as many runs of x as of y (x has {rx}, y has {ry}); "
            "use method='percentile'"
        )
    kernel = _poi_kernel(x, y)  # (tasks, rx, ry)

    def stat(wx: np.ndarray, wy: np.ndarray, m: tuple[int, int]) -> np.ndarray:
        """Counts wx (B, rx, tasks) and wy (B, ry, tasks), m = runs drawn per task of x and of y -> (B, 1)."""
        per_task = (np.matmul(wx.transpose(2, 0, 1), kernel) * wy.transpose(2, 0, 1)).sum(axis=2)  # (tasks, B)
        return (per_task.mean(axis=0) / (m[0] * m[1]))[:, None]

    def counts(idx: np.ndarray, runs: int) -> np.ndarray:
        return _counts(idx, np.arange(runs * tasks)).reshape(-1, runs, tasks)

    point = np.array([kernel.mean(axis=(1, 2)).mean()])
    rng = _rng_for(seed)
    block = max(_MIN_BLOCK_REPS, _BLOCK_ELEMENTS // ((rx + ry) * tasks))
    parts = []
    for start in range(0, reps, block):
        b = min(block, reps - start)
        if rx == ry:  # one draw per block: x's runs then y's runs for each repetition, as rliable draws them
            idx = _draw(rng, rx, (b, rx + ry, tasks))
            ix, iy = idx[:, :rx], idx[:, rx:]
        else:
            ix, iy = _draw(rng, rx, (b, rx, tasks)), _draw(rng, ry, (b, ry, tasks))
        parts.append(stat(counts(ix, rx), counts(iy, ry), (rx, ry)))
    boot = np.concatenate(parts)

    def jackknife() -> np.ndarray:  # leave run i out of x and of y (runs_x == runs_y)
        w = np.broadcast_to(1.0 - np.eye(rx)[:, :, None], (rx, rx, tasks))
        return stat(w, w, (rx - 1, rx - 1))

    low, high = _intervals(
        point, boot, method, confidence, jackknife, scale=1.0, labels=lambda k: "probability_of_improvement"
    )
    return Interval(float(point[0]), float(low[0]), float(high[0]))
