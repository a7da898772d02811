"""Stratified-bootstrap intervals: hybridrl (vectorized NumPy) against rliable 1.2 (arch, one Python call per repetition).

    python bench/stats_bootstrap.py [--reps 50000] [--rliable-reps N] [--skip-rliable] [--runs 10] [--tasks 9]

Problem: 2 algorithms, a (runs x tasks) matrix each (default 10 x 9, random
normalized scores), IQM, mean, median and optimality gap computed together on
the same resamples (rliable: one function returning the four, as in its README),
95% intervals by the percentile and the BCa method, ``reps`` repetitions each.

Timed: ``hybridrl.analysis.stratified_bootstrap`` (best of 3) and
``rliable.library.get_interval_estimates`` (once; it is slow), then the ratio
rliable / hybridrl. With ``--rliable-reps N < reps`` rliable runs N repetitions
and its time is scaled by reps / N (its cost is linear in reps; marked
"scaled"). The percentile intervals of both are printed side by side: they
differ only by Monte-Carlo noise (independent random streams). hybridrl's
probability of improvement and performance profile are timed too (rliable's
take minutes at 50,000 repetitions and are not run).

Nothing here asserts a time; the script only prints. The load average comes first.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

from hybridrl.analysis import AGGREGATES, performance_profile, probability_of_improvement, stratified_bootstrap


def _best_of(n: int, fn) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(n):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=50_000)
    ap.add_argument("--rliable-reps", type=int, default=None, help="rliable's repetitions (default: --reps)")
    ap.add_argument("--skip-rliable", action="store_true")
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--tasks", type=int, default=9)
    args = ap.parse_args()
    reps, r_reps = args.reps, args.rliable_reps or args.reps

    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; {platform.processor() or platform.machine()}")
    print(f"numpy {np.__version__}; problem: 2 algorithms x ({args.runs} runs x {args.tasks} tasks), "
          f"{', '.join(AGGREGATES)}, {reps} repetitions")
    rng = np.random.default_rng(0)
    scores = {
        "algo_a": rng.uniform(0.0, 1.2, size=(args.runs, args.tasks)),
        "algo_b": 1.3 * rng.beta(2.0, 3.0, size=(args.runs, args.tasks)),
    }

    rliable = None
    if not args.skip_rliable:
        try:
            from rliable import library as rly
            from rliable import metrics as rm
            import rliable as _r  # noqa: F401
            from importlib.metadata import version

            rliable = (rly, rm, version("rliable"), version("arch"))
        except ImportError as err:
            print(f"rliable not installed ({err}); install the test extra: pip install -e '.[test]'")

    ours: dict[str, tuple[float, dict]] = {}
    for method in ("percentile", "bca"):
        stratified_bootstrap(scores, reps=1000, method=method, gamma=1.0)  # warm caches
        ours[method] = _best_of(3, lambda: stratified_bootstrap(scores, reps=reps, method=method, gamma=1.0))
        print(f"hybridrl  {method:10s} {ours[method][0]:8.3f} s")

    if rliable is not None:
        rly, rm, r_version, arch_version = rliable
        print(f"rliable {r_version} (arch {arch_version}), {r_reps} repetitions"
              + ("" if r_reps == reps else f", times scaled by {reps / r_reps:g}"))
        func = lambda s: np.array([rm.aggregate_iqm(s), rm.aggregate_mean(s), rm.aggregate_median(s),  # noqa: E731
                                   rm.aggregate_optimality_gap(s, gamma=1.0)])
        for method in ("percentile", "bca"):
            np.random.seed(0)
            t0 = time.perf_counter()
            points, cis = rly.get_interval_estimates(scores, func, method=method, reps=r_reps)
            took = (time.perf_counter() - t0) * reps / r_reps
            mark = " (scaled)" if r_reps != reps else ""
            print(f"rliable   {method:10s} {took:8.3f} s{mark}   ratio rliable / hybridrl = {took / ours[method][0]:.0f}x")
            if method == "percentile":
                for algo in scores:
                    for j, name in enumerate(AGGREGATES):
                        h = ours[method][1][algo][name]
                        print(f"    {algo} {name:15s} hybridrl {h.point:.4f} [{h.low:.4f}, {h.high:.4f}]   "
                              f"rliable {points[algo][j]:.4f} [{cis[algo][0, j]:.4f}, {cis[algo][1, j]:.4f}]")

    t_poi, poi = _best_of(3, lambda: probability_of_improvement(scores["algo_a"], scores["algo_b"], reps=reps))
    print(f"hybridrl  probability_of_improvement {reps} reps: {t_poi:.3f} s  -> {poi.point:.4f} [{poi.low:.4f}, {poi.high:.4f}]")
    taus = np.linspace(0.0, 1.3, 101)
    t_prof, _ = _best_of(3, lambda: performance_profile(scores, taus, reps=reps))
    print(f"hybridrl  performance_profile 2 algorithms x 101 taus, {reps} reps: {t_prof:.3f} s")


if __name__ == "__main__":
    main()
