"""Figures of a report: learning curves, aggregate intervals, performance profiles, probability of improvement.

Every function takes numbers already computed by ``hybridrl.analysis.stats``
and returns a Matplotlib ``Figure``; ``save`` writes it as PNG and SVG. Figures
are made with ``matplotlib.figure.Figure`` directly (never pyplot), so no GUI
backend is touched and PNGs are drawn by Agg; nothing here changes global
Matplotlib state.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from hybridrl.analysis.stats import Interval, Profile
from hybridrl.train.checkpoint import atomic_write_bytes

AGGREGATE_LABELS = {"iqm": "IQM", "mean": "Mean", "median": "Median", "optimality_gap": "Optimality gap"}

# Text stays text in the SVGs (small files) and ids are stable from one report to the next.
_RC = {"svg.fonttype": "none", "svg.hashsalt": "hybridrl-report", "font.size": 9, "axes.titlesize": 9}


def colors(algos: Sequence[str]) -> dict[str, str]:
    """One colour per algorithm, the same in every figure."""
    cycle = matplotlib.colormaps["tab10"].colors
    return {algo: matplotlib.colors.to_hex(cycle[i % len(cycle)]) for i, algo in enumerate(algos)}


def _figure(width: float, height: float) -> Figure:
    return Figure(figsize=(width, height), layout="constrained")


def curves(
    curves_by_algo: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
    title: str,
    ylabel: str,
    palette: Mapping[str, str],
    xlabel: str = "training step",
    levels: Mapping[str, float] | None = None,
) -> Figure:
    """Learning curves: {algo: (steps, mean, low, high)}, a line per algorithm with its band; ``levels``
    {name: value} adds a dashed horizontal line each (a score reached without training steps on this axis)."""
    with matplotlib.rc_context(_RC):
        fig = _figure(6.0, 3.6)
        ax = fig.add_subplot()
        for algo, (steps, mid, low, high) in curves_by_algo.items():
            ax.plot(steps, mid, color=palette[algo], label=algo, marker="o", markersize=3)
            ax.fill_between(steps, low, high, color=palette[algo], alpha=0.2, linewidth=0)
        for name, value in (levels or {}).items():
            ax.axhline(value, color=palette[name], linestyle="--", linewidth=1, label=name)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend(frameon=False)
    return fig


def intervals(
    results: Mapping[str, Mapping[str, Interval]],
    aggregates: Sequence[str],
    title: str,
    xlabel: str,
    palette: Mapping[str, str],
) -> Figure:
    """One panel per aggregate; in each, a bar from low to high and a tick at the point, per algorithm."""
    algos = list(results)
    with matplotlib.rc_context(_RC):
        fig = _figure(2.4 * len(aggregates) + 0.8, 0.45 * len(algos) + 1.4)
        axes = fig.subplots(1, len(aggregates), sharey=True, squeeze=False)[0]
        for ax, name in zip(axes, aggregates):
            for y, algo in enumerate(algos):
                iv = results[algo][name]
                ax.barh(y, iv.high - iv.low, left=iv.low, height=0.6, color=palette[algo], alpha=0.6)
                ax.plot([iv.point, iv.point], [y - 0.3, y + 0.3], color="black", linewidth=1.5)
            ax.set_title(AGGREGATE_LABELS[name])
            ax.set_xlabel(xlabel)
            ax.grid(axis="x", alpha=0.3)
            ax.set_yticks(range(len(algos)), algos)
            ax.set_ylim(-0.6, len(algos) - 0.4)
        axes[0].invert_yaxis()
        fig.suptitle(title)
    return fig


def profiles(
    taus: np.ndarray,
    profiles_by_algo: Mapping[str, Profile],
    title: str,
    xlabel: str,
    palette: Mapping[str, str],
) -> Figure:
    """Performance profiles: fraction of runs with score > tau, with the bootstrap band."""
    with matplotlib.rc_context(_RC):
        fig = _figure(6.0, 3.6)
        ax = fig.add_subplot()
        for algo, prof in profiles_by_algo.items():
            ax.plot(taus, prof.profile, color=palette[algo], label=algo, drawstyle="steps-post")
            ax.fill_between(taus, prof.low, prof.high, color=palette[algo], alpha=0.2, linewidth=0, step="post")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(r"fraction of runs with score $> \tau$")
        ax.set_ylim(-0.02, 1.02)
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend(frameon=False)
    return fig


def improvement(pairs: Sequence[tuple[str, str, Interval]], title: str) -> Figure:
    """Probability of improvement P(X > Y) with its interval, one row per pair (X, Y)."""
    with matplotlib.rc_context(_RC):
        fig = _figure(6.0, 0.45 * len(pairs) + 1.4)
        ax = fig.add_subplot()
        for y, (x_name, _, iv) in enumerate(pairs):
            ax.barh(y, iv.high - iv.low, left=iv.low, height=0.6, color="tab:blue", alpha=0.5)
            ax.plot([iv.point, iv.point], [y - 0.3, y + 0.3], color="black", linewidth=1.5)
        ax.axvline(0.5, color="gray", linestyle="--", linewidth=1)
        ax.set_yticks(range(len(pairs)), [f"P({x} > {y})" for x, y, _ in pairs])
        ax.set_xlim(0, 1)
        ax.set_ylim(-0.6, len(pairs) - 0.4)
        ax.invert_yaxis()
        ax.set_xlabel("probability of improvement")
        ax.grid(axis="x", alpha=0.3)
        ax.set_title(title)
    return fig


def save(fig: Figure, out: Path, stem: str) -> tuple[Path, Path, bytes]:
    """Write OUT/STEM.png and OUT/STEM.svg (each atomically); return both paths and the SVG's bytes."""
    files = {}
    with matplotlib.rc_context(_RC):
        for fmt, extra in (("png", {"dpi": 150}), ("svg", {"metadata": {"Date": None}})):
            buf = io.BytesIO()
            fig.savefig(buf, format=fmt, **extra)
            files[fmt] = buf.getvalue()
    png, svg = Path(out) / f"{stem}.png", Path(out) / f"{stem}.svg"
    atomic_write_bytes(png, files["png"])
    atomic_write_bytes(svg, files["svg"])
    return png, svg, files["svg"]
