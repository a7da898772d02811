"""`hybridrl report`: tables, figures and one offline HTML page from run folders.

Reading. Every folder under the given paths that holds a ``config.json``
(searched recursively) is a run folder. A run folder trains one algorithm on
one task (its ``env`` id, or its dataset when it has no env) for one or more
seeds; each seed is one *run* in the statistical sense. Runs of the same
algorithm and task from several folders are pooled.

Scores. The normalized score of each evaluation in ``eval.jsonl``; if any run
has none (no reference scores), every run is scored by its mean return
instead, and the report says so. Two scores per run, never mixed:

* final: the score at the run's last evaluation;
* best checkpoint: the run's highest score over all its evaluations (an
  optimistic choice: it picks the checkpoint by the same evaluation it reports).

Statistics come from ``hybridrl.analysis.stats`` (stratified bootstrap,
percentile intervals). Outputs in ``out``: ``report.md``, ``index.html`` (all
figures inlined as SVG data URIs: no external asset, opens offline) and each
figure as PNG and SVG.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import re
from collections.abc import Callable, Sequence
from itertools import combinations
from pathlib import Path

import numpy as np

from hybridrl.analysis import plots
from hybridrl.analysis.stats import (
    Interval,
    performance_profile,
    probability_of_improvement,
    stratified_bootstrap,
)
from hybridrl.train.checkpoint import atomic_write_bytes
from hybridrl.train.run_dir import read_json, read_jsonl


class ReportError(ValueError):
    """The runs cannot be reported on; the message names the folder or the missing piece and the fix."""


KINDS = {
    "final": ("Final score", "the score at each run's last evaluation"),
    "best": ("Best-checkpoint score", "each run's highest score over all its evaluations (optimistic: "
                                      "the checkpoint is picked by the same evaluation that scores it)"),
}


# --------------------------------------------------------------------- reading
@dataclasses.dataclass
class SeedRun:
    """One seed of one run folder: the unit the statistics resample."""

    folder: Path
    algo: str
    task: str
    seed: int
    steps: np.ndarray  # (E,) evaluation steps, ascending
    scores: np.ndarray  # (E,) score at each step
    normalized: bool  # whether ``scores`` are normalized scores (else mean returns)

    @property
    def final(self) -> float:
        return float(self.scores[-1])

    @property
    def best(self) -> float:
        return float(self.scores.max())


def _is_run_config(path: Path) -> bool:
    """Whether ``path`` is a config.json that a hybridrl run wrote (other tools' config.json files are skipped)."""
    try:
        run = read_json(path).get("run")
    except (OSError, ValueError, AttributeError):
        return False
    return isinstance(run, dict) and "algo" in run


def find_run_dirs(paths: Sequence[str | Path]) -> list[Path]:
    """Every run folder (holding a hybridrl config.json) at or under each path, in order, without repeats."""
    if not paths:
        raise ReportError("no run folders given; pass run folders, or a folder that holds them")
    found: list[Path] = []
    for path in map(Path, paths):
        if not path.is_dir():
            raise ReportError(f"{path}: no such folder; pass run folders, or a folder that holds them")
        here = sorted(p.parent for p in path.rglob("config.json") if _is_run_config(p))
        if not here:
            raise ReportError(f"{path}: no run folders found (searched for config.json recursively); "
                              "pass folders written by `hybridrl train`")
        found += [p for p in here if p not in found]
    return found


def load_runs(run_dirs: Sequence[Path]) -> list[SeedRun]:
    """Every seed of every run folder with its evaluations; refuses a folder without evaluations."""
    runs: list[SeedRun] = []
    for folder in run_dirs:
        try:
            config = read_json(folder / "config.json")
            run = config["run"]
            algo = str(run["algo"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ReportError(f"{folder}/config.json: not a hybridrl run config ({exc.__class__.__name__}: {exc})") from None
        task = run.get("env") or run.get("dataset") or (config.get("dataset") or {}).get("name")
        if not task:
            raise ReportError(f"{folder}/config.json: names neither an env nor a dataset, so its task is unknown")
        records = read_jsonl(folder / "eval.jsonl")
        if not records:
            raise ReportError(f"{folder}: no evaluations (eval.jsonl is missing or empty); "
                              "train with --env so the run is evaluated, or leave this folder out")
        by_seed: dict[int, dict[int, dict]] = {}
        for r in records:
            by_seed.setdefault(int(r["seed"]), {})[int(r["step"])] = r  # a resumed run's repeat wins
        for seed, evals in sorted(by_seed.items()):
            steps = np.array(sorted(evals))
            normalized = all(evals[s].get("normalized_score") is not None for s in steps)
            key = "normalized_score" if normalized else "return_mean"
            scores = np.array([float(evals[s][key]) for s in steps])
            runs.append(SeedRun(folder, algo, str(task), seed, steps, scores, normalized))
    return runs


# ------------------------------------------------------------------- grouping
@dataclasses.dataclass
class Grid:
    """Runs arranged by algorithm and task; every algorithm has runs on every task."""

    algos: list[str]
    tasks: list[str]
    runs: dict[tuple[str, str], list[SeedRun]]  # (algo, task) -> runs, trimmed to the same count per algo
    normalized: bool
    notes: list[str]

    def matrix(self, algo: str, kind: str) -> np.ndarray:
        """(runs, tasks) scores of one kind ("final" or "best") for ``algo``."""
        return np.array([[getattr(r, kind) for r in self.runs[algo, t]] for t in self.tasks]).T

    def steps(self, algo: str, task: str | None, kind: str) -> str:
        """The evaluation steps behind a score: '200' or '100-200' (final), 'up to 200, 2 evaluations' (best)."""
        runs = [r for t in ([task] if task else self.tasks) for r in self.runs[algo, t]]
        if kind == "final":
            return _span([int(r.steps[-1]) for r in runs])
        evals = _span([len(r.steps) for r in runs])
        return f"best of {evals} evaluations up to step {_span([int(r.steps[-1]) for r in runs])}"


def _span(values: Sequence[int]) -> str:
    lo, hi = min(values), max(values)
    return f"{lo:,}" if lo == hi else f"{lo:,}-{hi:,}"


def make_grid(runs: list[SeedRun]) -> Grid:
    algos = sorted({r.algo for r in runs})
    tasks = sorted({r.task for r in runs})
    grouped: dict[tuple[str, str], list[SeedRun]] = {}
    for r in runs:
        grouped.setdefault((r.algo, r.task), []).append(r)
    missing = [f"{a} lacks {t}" for a in algos for t in tasks if (a, t) not in grouped]
    if missing:
        raise ReportError(f"mismatched tasks across algorithms: {'; '.join(missing)}; every algorithm needs runs on "
                          "the same tasks: add the missing runs or leave those tasks' folders out")
    notes = []
    normalized = all(r.normalized for r in runs)
    if not normalized:
        raw = sorted({str(r.folder) for r in runs if not r.normalized})
        notes.append("Scores are mean episode returns, not normalized scores: "
                     f"{', '.join(raw)} {'has' if len(raw) == 1 else 'have'} no normalized score "
                     "(no reference scores for the task). Returns of different tasks are on different scales.")
    for algo in algos:  # the statistics need as many runs on every task of an algorithm
        counts = {t: len(grouped[algo, t]) for t in tasks}
        n = min(counts.values())
        if max(counts.values()) != n:
            notes.append(f"{algo}: {', '.join(f'{c} runs on {t}' for t, c in counts.items())}; "
                         f"the first {n} on each task are used")
            for t in tasks:
                grouped[algo, t] = grouped[algo, t][:n]
    return Grid(algos, tasks, grouped, normalized, notes)


# ------------------------------------------------------------------ computing
@dataclasses.dataclass
class Figure:
    stem: str
    title: str
    caption: str
    svg: bytes


@dataclasses.dataclass
class Section:
    heading: str
    text: str
    tables: list[tuple[list[str], list[list[str]]]]  # (header, rows)
    figures: list[Figure]


def _fmt(x: float) -> str:
    return f"{x:.1f}"


def _ci(iv: Interval) -> str:
    return f"{_fmt(iv.point)} [{_fmt(iv.low)}, {_fmt(iv.high)}]"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower() or "task"


def _mean_std(x: np.ndarray) -> str:
    std = float(np.std(x, ddof=1)) if x.size > 1 else 0.0
    return f"{_fmt(float(np.mean(x)))} ± {_fmt(std)}"


class _Builder:
    def __init__(self, grid: Grid, out: Path, reps: int, seed: int, confidence: float,
                 on_stage: Callable[[str], None]):
        self.grid, self.out, self.reps, self.seed, self.confidence = grid, out, reps, seed, confidence
        self.on_stage = on_stage
        self.palette = plots.colors(grid.algos)
        self.unit = "normalized score" if grid.normalized else "mean return"
        self.aggregates = ("iqm", "mean", "median", "optimality_gap") if grid.normalized else ("iqm", "mean", "median")
        self.pct = f"{100 * confidence:g}%"

    def _seeds(self) -> str:
        counts = {a: len(self.grid.runs[a, self.grid.tasks[0]]) for a in self.grid.algos}
        return ", ".join(f"{a} {n}" for a, n in counts.items())

    def _figure(self, fig, stem: str, title: str, caption: str) -> Figure:
        _, _, svg = plots.save(fig, self.out, stem)
        return Figure(stem, title, caption, svg)

    def scores_section(self, kind: str) -> Section:
        g = self.grid
        name, what = KINDS[kind]
        heading = name
        self.on_stage(f"bootstrapping {name.lower()}s ({self.reps:,} repetitions)")
        per_task = []
        for task in g.tasks:
            for algo in g.algos:
                x = np.array([getattr(r, kind) for r in g.runs[algo, task]])
                iv = stratified_bootstrap({algo: x[:, None]}, "iqm", self.reps, confidence=self.confidence,
                                          seed=self.seed)[algo]["iqm"]
                per_task.append([task, algo, str(x.size), g.steps(algo, task, kind), _mean_std(x), _ci(iv)])
        mats = {a: g.matrix(a, kind) for a in g.algos}
        agg = stratified_bootstrap(mats, self.aggregates, self.reps, confidence=self.confidence, seed=self.seed)
        agg_rows = [[a, f"{mats[a].shape[0]} x {mats[a].shape[1]}", g.steps(a, None, kind)]
                    + [_ci(agg[a][n]) for n in self.aggregates] for a in g.algos]
        tables = [
            (["task", "algo", "seeds", "step", f"mean ± std ({self.unit})", f"IQM [{self.pct} CI]"], per_task),
            (["algo", "runs x tasks", "step"] + [f"{plots.AGGREGATE_LABELS[n]} [{self.pct} CI]" for n in self.aggregates],
             agg_rows),
        ]
        steps = _span([int(r.steps[-1]) for runs in g.runs.values() for r in runs])
        behind = f"{len(g.tasks)} task(s); seeds per task: {self._seeds()}; " + (
            f"step {steps}" if kind == "final" else f"best evaluation up to step {steps}")
        figures = [self._figure(
            plots.intervals(agg, self.aggregates, f"{heading}: aggregates over {behind}", self.unit, self.palette),
            f"aggregates_{kind}", f"{heading}: aggregate IQM, mean, median"
            + (", optimality gap" if "optimality_gap" in self.aggregates else ""),
            f"Point estimate (black) and {self.pct} stratified-bootstrap interval. {behind}."
            + (" Optimality gap: mean shortfall below 100 (lower is better)." if "optimality_gap" in self.aggregates else ""))]

        everything = np.concatenate([m.ravel() for m in mats.values()])
        lo, hi = float(everything.min()), float(everything.max())
        if g.normalized:
            lo, hi = min(lo, 0.0), max(hi, 100.0)
        pad = 0.02 * (hi - lo) or 1.0
        taus = np.linspace(lo - pad, hi + pad, 201)
        prof = performance_profile(mats, taus, self.reps, confidence=self.confidence, seed=self.seed)
        figures.append(self._figure(
            plots.profiles(taus, prof, f"{heading}: performance profile, {behind}", f"{self.unit} threshold τ",
                           self.palette),
            f"profile_{kind}", f"{heading}: performance profiles",
            f"Fraction of all run x task scores above τ, with {self.pct} stratified-bootstrap bands. {behind}."))

        pairs = [(x, y, probability_of_improvement(mats[x], mats[y], self.reps, confidence=self.confidence,
                                                   seed=self.seed)) for x, y in combinations(g.algos, 2)]
        if pairs:
            tables.append((["X", "Y", f"P(X > Y) [{self.pct} CI]"], [[x, y, _ci100(iv)] for x, y, iv in pairs]))
            figures.append(self._figure(
                plots.improvement(pairs, f"{heading}: probability of improvement, {behind}"),
                f"improvement_{kind}", f"{heading}: probability of improvement",
                f"P(X > Y): chance that a run of X scores above a run of Y on a task, averaged over tasks; "
                f"{self.pct} stratified-bootstrap interval. {behind}."))
        text = (f"{name} = {what}. Per task: mean ± standard deviation over seeds (ddof 1) and IQM with its "
                f"{self.pct} bootstrap interval. Aggregates over tasks: {len(g.tasks)} task(s), runs per task: "
                f"{self._seeds()}.")
        if not pairs:
            text += " Probability of improvement needs two algorithms; there is one."
        return Section(heading, text, tables, figures)

    def curves_section(self) -> Section:
        g = self.grid
        self.on_stage(f"bootstrapping learning curves ({self.reps:,} repetitions per point)")
        figures = []
        for task in g.tasks:
            curves = {}
            for algo in g.algos:
                runs = g.runs[algo, task]
                steps = sorted({int(s) for r in runs for s in r.steps})
                mid, low, high = [], [], []
                for step in steps:
                    x = np.array([r.scores[r.steps == step][0] for r in runs if step in r.steps])
                    iv = stratified_bootstrap({algo: x[:, None]}, "mean", self.reps, confidence=self.confidence,
                                              seed=self.seed)[algo]["mean"]
                    mid.append(iv.point), low.append(iv.low), high.append(iv.high)
                curves[algo] = (np.array(steps), np.array(mid), np.array(low), np.array(high))
            seeds = ", ".join(f"{a} {len(g.runs[a, task])}" for a in g.algos)
            last = ", ".join(f"{a} {g.steps(a, task, 'final')}" for a in g.algos)
            figures.append(self._figure(
                plots.curves(curves, f"{task}: learning curves (seeds: {seeds})", self.unit, self.palette),
                f"curves_{_slug(task)}", f"{task}: learning curves",
                f"Mean {self.unit} over seeds at each evaluation with its {self.pct} bootstrap band. "
                f"Seeds: {seeds}; last step: {last}."))
        return Section("Learning curves", "Every evaluation of every seed; neither final nor best alone.", [], figures)


def _ci100(iv: Interval) -> str:
    return f"{iv.point:.2f} [{iv.low:.2f}, {iv.high:.2f}]"


# ------------------------------------------------------------------- writing
def _markdown(title: str, intro: list[str], sections: list[Section]) -> str:
    lines = [f"# {title}", ""]
    for para in intro:
        lines += [para, ""]
    for s in sections:
        lines += [f"## {s.heading}", "", s.text, ""]
        for header, rows in s.tables:
            lines.append("| " + " | ".join(header) + " |")
            lines.append("|" + "|".join("---" for _ in header) + "|")
            lines += ["| " + " | ".join(row) + " |" for row in rows]
            lines.append("")
        for f in s.figures:
            lines += [f"![{f.title}]({f.stem}.png)", "", f"*{f.caption}* ([SVG]({f.stem}.svg))", ""]
    return "\n".join(lines)


_CSS = """body{font-family:system-ui,sans-serif;max-width:64rem;margin:2rem auto;padding:0 1rem;color:#222}
table{border-collapse:collapse;margin:1rem 0}th,td{border:1px solid #ccc;padding:.25rem .6rem;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}figure{margin:1.5rem 0}
img{max-width:100%;height:auto}figcaption{font-size:.9rem;color:#555}.note{background:#fff7e0;padding:.5rem}"""


def _html(title: str, intro: list[str], notes: list[str], sections: list[Section]) -> str:
    e = html.escape
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             f"<title>{e(title)}</title><style>{_CSS}</style></head><body>", f"<h1>{e(title)}</h1>"]
    parts += [f"<p>{e(p)}</p>" for p in intro]
    parts += [f'<p class="note">{e(n)}</p>' for n in notes]
    for s in sections:
        parts += [f"<h2>{e(s.heading)}</h2>", f"<p>{e(s.text)}</p>"]
        for header, rows in s.tables:
            parts.append("<table><thead><tr>" + "".join(f"<th>{e(h)}</th>" for h in header) + "</tr></thead><tbody>")
            parts += ["<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in rows]
            parts.append("</tbody></table>")
        for f in s.figures:
            data = base64.b64encode(f.svg).decode("ascii")
            parts.append(f'<figure id="{e(f.stem)}"><img alt="{e(f.title)}" src="data:image/svg+xml;base64,{data}">'
                         f"<figcaption>{e(f.caption)}</figcaption></figure>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


@dataclasses.dataclass
class Report:
    out: Path
    files: list[Path]
    algos: list[str]
    tasks: list[str]
    runs: int


def build_report(
    paths: Sequence[str | Path],
    out: str | Path,
    *,
    reps: int = 50_000,
    seed: int = 0,
    confidence: float = 0.95,
    on_stage: Callable[[str], None] | None = None,
) -> Report:
    """Read the run folders at or under ``paths``; write report.md, index.html and the figures to ``out``.

    reps: bootstrap repetitions for every interval; seed: the bootstrap's seed
    (same inputs and seed, same report). on_stage(message) is called before each
    slow step (for a progress display).
    """
    if isinstance(reps, bool) or not isinstance(reps, int) or reps < 1:
        raise ReportError(f"--reps must be a positive integer, got {reps!r}")
    if not 0 < confidence < 1:
        raise ReportError(f"confidence must be strictly between 0 and 1, got {confidence!r}")
    run_dirs = find_run_dirs(paths)
    grid = make_grid(load_runs(run_dirs))
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ReportError(f"{out} is a file; pass a folder to --out")
    out.mkdir(parents=True, exist_ok=True)
    builder = _Builder(grid, out, reps, seed, confidence, on_stage or (lambda message: None))
    sections = [builder.scores_section("final"), builder.scores_section("best"), builder.curves_section()]

    n_runs = sum(len(v) for v in grid.runs.values())
    title = "hybridrl report"
    intro = [
        f"{len(grid.algos)} algorithm(s) ({', '.join(grid.algos)}) on {len(grid.tasks)} task(s) "
        f"({', '.join(grid.tasks)}); {n_runs} runs (one per seed) from {len(run_dirs)} run folder(s).",
        f"Score: {builder.unit}" + (" (0 = random policy, 100 = expert)." if grid.normalized else ".")
        + f" Intervals: {builder.pct} stratified bootstrap, percentile method, {reps:,} repetitions, seed {seed}.",
        "Final and best-checkpoint scores are reported in separate sections and never mixed.",
    ]
    folders = "Run folders: " + "; ".join(str(d) for d in run_dirs) + "."
    md = _markdown(title, intro + [folders] + [f"**Note.** {n}" for n in grid.notes], sections)
    page = _html(title, intro + [folders], grid.notes, sections)
    atomic_write_bytes(out / "report.md", md.encode())
    atomic_write_bytes(out / "index.html", page.encode())
    files = [out / "report.md", out / "index.html"]
    for s in sections:
        for f in s.figures:
            files += [out / f"{f.stem}.png", out / f"{f.stem}.svg"]
    return Report(out, files, grid.algos, grid.tasks, n_runs)


__all__ = ["Report", "ReportError", "build_report", "find_run_dirs", "load_runs", "make_grid"]
