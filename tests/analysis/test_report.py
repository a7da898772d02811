"""`hybridrl report` on fake run folders written by the real writer helpers: files, numbers, offline HTML, bad input."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from hybridrl.analysis.report import build_report
from hybridrl.cli import app
from hybridrl.train.run_dir import append_jsonl, write_json

runner = CliRunner()
TASK = "InvertedPendulum-v5"

# Normalized scores per seed at steps 100 and 200. Final = step 200, best = max over both.
BC = [[10.0, 30.0], [50.0, 20.0], [5.0, 40.0], [70.0, 60.0]]
IQL = [[80.0, 90.0], [95.0, 85.0], [60.0, 100.0]]


def fake_run(folder: Path, algo: str, scores: list[list[float]], task: str = TASK, normalized: bool = True) -> Path:
    """A run folder as train_offline leaves it (config, meta, eval.jsonl, summary), without training."""
    steps = [100 * (i + 1) for i in range(len(scores[0]))]
    folder.mkdir(parents=True)
    write_json(folder / "config.json", {
        "run": {"algo": algo, "dataset": "fake", "env": task, "steps": steps[-1], "seeds": len(scores), "seed": 0},
        "agent": {"name": algo}, "reference_scores": {"random": 0.0, "expert": 1000.0} if normalized else None})
    write_json(folder / "meta.json", {"command": ["test"]})
    for i, step in enumerate(steps):
        records = []
        for seed, per_step in enumerate(scores):
            r = {"step": step, "seed": seed, "return_mean": 10 * per_step[i], "returns": [10 * per_step[i]]}
            if normalized:
                r["normalized_score"] = per_step[i]
            records.append(r)
        append_jsonl(folder / "eval.jsonl", records)
    write_json(folder / "summary.json", {"step": steps[-1], "final_normalized_score": [s[-1] for s in scores]})
    return folder


def _iqm(x) -> float:  # by hand: sort, drop floor(n/4) at each end
    x = sorted(x)
    k = len(x) // 4
    return float(np.mean(x[k:len(x) - k]))


def _mean_std(x) -> str:
    return f"{np.mean(x):.1f} ± {np.std(x, ddof=1):.1f}"


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    fake_run(root / "sweep" / "bc-a", "bc", BC)
    fake_run(root / "sweep" / "iql-a", "iql", IQL)
    out = root / "report"
    # The parent folder is searched recursively for run folders.
    result = runner.invoke(app, ["report", str(root / "sweep"), "--out", str(out), "--reps", "500", "--seed", "3"])
    assert result.exit_code == 0, result.output
    assert "2 algorithm(s) x 1 task(s), 7 runs" in result.output
    return out


FIGURES = ["aggregates_final", "aggregates_best", "profile_final", "profile_best", "improvement_final",
           "improvement_best", "curves_invertedpendulum-v5"]


def test_report_writes_every_file(report):
    for stem in FIGURES:
        assert (report / f"{stem}.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n"), stem
        assert b"<svg" in (report / f"{stem}.svg").read_bytes(), stem
    assert (report / "report.md").stat().st_size > 0 and (report / "index.html").stat().st_size > 0
    assert not list(report.glob(".*tmp*")), "temporary files left behind"


def test_report_numbers_match_hand_computed(report):
    md = (report / "report.md").read_text()
    final_part, best_part = md.split("## Best-checkpoint score")
    best_part, curves_part = best_part.split("## Learning curves")
    assert "## Final score" in final_part
    for part, pick, label in ((final_part, lambda s: s[-1], "200"),
                              (best_part, max, "best of 2 evaluations up to step 200")):
        for algo, scores, n in (("bc", BC, 4), ("iql", IQL, 3)):
            x = [pick(s) for s in scores]
            row = f"| {TASK} | {algo} | {n} | {label} | {_mean_std(x)} | {_iqm(x):.1f} ["
            assert row in part, (row, part)
            # Aggregate row over tasks: runs x tasks, IQM and mean point estimates.
            agg = f"| {algo} | {n} x 1 | {label} | {_iqm(x):.1f} ["
            assert agg in part and f"] | {np.mean(x):.1f} [" in part
    # Hand values, so that a wrong pick of final/best cannot pass by symmetry.
    assert "| bc | 4 | 200 | 37.5 ± 17.1 | 35.0 [" in final_part
    assert "| bc | 4 | best of 2 evaluations up to step 200 | 47.5 ± 17.1 | 45.0 [" in best_part
    assert "37.5 ± 17.1" not in best_part and "47.5 ± 17.1" not in final_part
    assert "P(X > Y)" in final_part and "| bc | iql | 0.00 [" in final_part and "| bc | iql | 0.00 [" in best_part
    # Figures are labelled by kind and state seeds and steps.
    assert "aggregates_final.png" in final_part and "aggregates_best.png" not in final_part
    assert "aggregates_best.png" in best_part and "profile_best.png" in best_part
    assert "seeds per task: bc 4, iql 3; step 200" in final_part
    assert "seeds per task: bc 4, iql 3; best evaluation up to step 200" in best_part
    assert "curves_invertedpendulum-v5.png" in curves_part and "Seeds: bc 4, iql 3" in curves_part
    assert "500 repetitions, seed 3" in md


def test_report_is_reproducible(report, tmp_path):
    again = build_report([report.parent / "sweep"], tmp_path, reps=500, seed=3)
    assert (tmp_path / "report.md").read_text().split("Run folders:")[1] == \
        (report / "report.md").read_text().split("Run folders:")[1]
    assert len(again.files) == 2 + 2 * len(FIGURES)


def test_html_has_no_external_assets(report):
    page = (report / "index.html").read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page, re.I)
    assert "<script" not in page.lower() and "<link" not in page.lower() and "@import" not in page
    images = re.findall(r'<img [^>]*src="([^"]+)"', page)
    assert len(images) == len(FIGURES)
    for src in images:
        assert src.startswith("data:image/svg+xml;base64,")
        assert b"<svg" in base64.b64decode(src.split(",", 1)[1])
    assert page.index("Final score") < page.index("Best-checkpoint score") < page.index("Learning curves")


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# After load, the page records whether each image decoded (a broken data URI has naturalWidth 0).
PROBE = ("<script>addEventListener('load', () => document.body.dataset.images = [...document.images]"
         ".map(i => i.naturalWidth > 0 ? 'ok' : 'broken').join(' '));</script>")


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (Debian: apt-get install -y chromium)")
def test_html_opens_in_headless_chromium(report, tmp_path):
    page = tmp_path / "probe.html"  # a copy: the report itself carries no script
    page.write_text((report / "index.html").read_text().replace("</body>", PROBE + "</body>"))
    proc = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0",
         f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    console = [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]
    assert not console, console
    states = re.search(r'data-images="([^"]*)"', proc.stdout)
    assert states is not None, proc.stdout[:500]
    assert states.group(1).split() == ["ok"] * len(FIGURES)


def test_returns_used_when_no_normalized_score(tmp_path):
    fake_run(tmp_path / "runs" / "bc", "bc", BC, normalized=False)
    result = build_report([tmp_path / "runs"], tmp_path / "out", reps=50)
    md = (tmp_path / "out" / "report.md").read_text()
    assert "Scores are mean episode returns, not normalized scores" in md and str(tmp_path / "runs" / "bc") in md
    assert f"| {TASK} | bc | 4 | 200 | {_mean_std([10 * s[-1] for s in BC])} |" in md
    assert "Optimality gap" not in md and "Probability of improvement needs two algorithms" in md
    assert not (tmp_path / "out" / "improvement_final.png").exists() and len(result.files) == 2 + 2 * 5


def test_bad_input_empty_folder(tmp_path):
    (tmp_path / "empty" / "other-tool").mkdir(parents=True)
    write_json(tmp_path / "empty" / "other-tool" / "config.json", {"lr": 0.1})  # not a run: skipped
    result = runner.invoke(app, ["report", str(tmp_path / "empty"), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert (f"error: {tmp_path / 'empty'}: no run folders found (searched for config.json recursively); "
            "pass folders written by `hybridrl train`") in result.output
    assert not (tmp_path / "out").exists()


def test_bad_input_run_without_evaluations(tmp_path):
    fake_run(tmp_path / "runs" / "bc", "bc", BC)
    (fake_run(tmp_path / "runs" / "iql", "iql", IQL) / "eval.jsonl").unlink()
    result = runner.invoke(app, ["report", str(tmp_path / "runs"), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert (f"error: {tmp_path / 'runs' / 'iql'}: no evaluations (eval.jsonl is missing or empty); "
            "train with --env so the run is evaluated, or leave this folder out") in result.output
    assert not (tmp_path / "out").exists()


def test_bad_input_mismatched_tasks(tmp_path):
    fake_run(tmp_path / "runs" / "bc-a", "bc", BC, task="Hopper-v5")
    fake_run(tmp_path / "runs" / "bc-b", "bc", BC, task="Walker2d-v5")
    fake_run(tmp_path / "runs" / "iql-a", "iql", IQL, task="Hopper-v5")
    result = runner.invoke(app, ["report", str(tmp_path / "runs" / "bc-a"), str(tmp_path / "runs" / "bc-b"),
                                 str(tmp_path / "runs" / "iql-a"), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert ("error: mismatched tasks across algorithms: iql lacks Walker2d-v5; every algorithm needs runs on the "
            "same tasks: add the missing runs or leave those tasks' folders out") in result.output


def test_bad_input_reps(tmp_path):
    fake_run(tmp_path / "runs" / "bc", "bc", BC)
    result = runner.invoke(app, ["report", str(tmp_path / "runs"), "--reps", "0"])
    assert result.exit_code == 2
    assert "error: --reps must be a positive integer, got 0" in result.output
