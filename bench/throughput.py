"""Gradient updates per second: hybridrl (JAX, 1 and 8 seeds) against d3rlpy 2.8.1 (PyTorch), same machine, same run.

    python bench/throughput.py [--steps N] [--d3rlpy-steps N] [--skip-d3rlpy] [--algos td3_bc,iql] [--json PATH]

Problem: observation dim 17, action dim 6, batch 256, 256x256 MLPs (both
libraries' defaults for TD3+BC and IQL), a synthetic random dataset of 100k
transitions. What is measured:

1. hybridrl, 1 seed: ``make_train_chunk(agent, 256, chunk, num_seeds=1)``,
   compiled ahead of time, then timed over whole chunks (the batch is sampled
   inside the compiled step, as in training).
2. hybridrl, 8 seeds vmapped in one program: updates/s summed over seeds, and per seed.
3. d3rlpy 2.8.1 on CPU torch, in a venv of its own that this script creates
   and reuses (``~/.cache/hybridrl-bench/d3rlpy-venv``; ``torch==2.13.0`` then
   ``d3rlpy==2.8.1`` from pip). Its worker (``bench/_d3rlpy_worker.py``) times
   what ``fit`` does per step (sample a batch, ``algo.update``), and update alone.
4. Ratios hybridrl / d3rlpy.
5. Achieved FLOP/s as a fraction of this CPU's float32 matmul throughput, with
   FLOPs per update counted by hand below. Two ceilings: a jitted 2048x2048
   ``jnp.dot`` (the cores' practical peak) and a 256x256 @ 256x256 one (the
   layer shape that dominates these updates, which no CPU runs at peak).

Nothing here asserts a time; the script only prints. Throughput is only
meaningful on an otherwise idle machine: the load average is printed first.
"""

from __future__ import annotations

import argparse
import datetime
import faulthandler
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from hybridrl.agents import iql, sac, td3_bc
from hybridrl.agents.base import Spec
from hybridrl.train.core import init_states, make_train_chunk

OBS_DIM, ACT_DIM, HIDDEN, BATCH, NUM_TRANSITIONS = 17, 6, (256, 256), 256, 100_000
AGENTS = {"td3_bc": td3_bc, "iql": iql, "sac": sac}
D3RLPY_VERSION, TORCH_VERSION = "2.8.1", "2.13.0"
D3RLPY_VENV = Path(os.environ.get("HYBRIDRL_BENCH_CACHE", Path.home() / ".cache" / "hybridrl-bench")) / "d3rlpy-venv"
WORKER = Path(__file__).with_name("_d3rlpy_worker.py")


# ---------------------------------------------------------------------------
# FLOPs of one update, counted by hand (matmuls only; elementwise ops, Adam and
# Polyak updates are O(params) and ignored -- under 1% at batch 256).
#
# A dense layer in->out on a batch of B costs 2*B*in*out FLOPs forward. Let
# F(net) = 2*B*sum(in*out) over the net's layers, for B = 256:
#   actor   17->256->256->6   sum(in*out) = 71,424   F_pi = 36.57 MFLOP
#   critic  23->256->256->1   sum(in*out) = 71,680   F_Q  = 36.70 MFLOP (one of the twin critics)
#   value   17->256->256->1   sum(in*out) = 70,144   F_V  = 35.91 MFLOP
# A pass costs 1F forward only; 3F forward + backward with weight gradients
# (input grads 1F + weight grads 1F); 2F forward + backward to the input only
# (a frozen critic that the actor loss differentiates through).
#
# TD3+BC (policy_freq 2: the actor step runs on every 2nd update, so x 1/2):
#   target actor on s'                      1 F_pi
#   twin target critics on (s', a')         2 F_Q
#   twin critics fwd+bwd                    6 F_Q
#   actor fwd+bwd              (x 1/2)      3 F_pi / 2
#   critic Q1 fwd+bwd to input (x 1/2)      2 F_Q  / 2
#   total per update                        2.5 F_pi + 9 F_Q          ~ 421.7 MFLOP
# IQL (hybridrl's order; d3rlpy evaluates the target critics twice, +2 F_Q, not counted):
#   twin target critics on (s, a)           2 F_Q
#   value fwd+bwd                           3 F_V
#   new value on s (advantage)              1 F_V
#   actor fwd+bwd                           3 F_pi
#   new value on s' (TD target)             1 F_V
#   twin critics fwd+bwd                    6 F_Q
#   total per update                        3 F_pi + 5 F_V + 8 F_Q   ~ 582.9 MFLOP
# SAC (twin critics, one update per step; the two actor heads counted as one output layer):
#   actor on s' (sample a')                 1 F_pi
#   twin target critics on (s', a')         2 F_Q
#   twin critics fwd+bwd                    6 F_Q
#   actor fwd+bwd                           3 F_pi
#   twin critics fwd+bwd to input           4 F_Q
#   total per update                        4 F_pi + 12 F_Q           ~ 586.7 MFLOP
# These are the work the algorithm needs; an implementation that does more
# (vmapped TD3+BC runs its actor branch on every step, see below) shows as a
# lower fraction of peak, not as more FLOPs.
# ---------------------------------------------------------------------------


def dense_flops(sizes: list[int], batch: int = BATCH) -> float:
    """Forward FLOPs of an MLP with layer widths ``sizes`` (input first) on ``batch`` rows."""
    return 2.0 * batch * sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))


def update_flops(algo: str) -> float:
    f_pi = dense_flops([OBS_DIM, *HIDDEN, ACT_DIM])
    f_q = dense_flops([OBS_DIM + ACT_DIM, *HIDDEN, 1])
    f_v = dense_flops([OBS_DIM, *HIDDEN, 1])
    if algo == "td3_bc":
        return 2.5 * f_pi + 9 * f_q
    if algo == "iql":
        return 3 * f_pi + 5 * f_v + 8 * f_q
    if algo == "sac":
        return 4 * f_pi + 12 * f_q
    raise ValueError(algo)


def matmul_flops_per_s(m: int, k: int, n: int, min_seconds: float = 1.0) -> float:
    """float32 FLOP/s of a jitted (m x k) @ (k x n) ``jnp.dot``, best of 5 timed runs of ~min_seconds/5 each."""
    a = jax.random.normal(jax.random.PRNGKey(0), (m, k), jnp.float32)
    b = jax.random.normal(jax.random.PRNGKey(1), (k, n), jnp.float32)
    dot = jax.jit(jnp.dot).lower(a, b).compile()
    jax.block_until_ready(dot(a, b))
    flops = 2.0 * m * k * n
    reps = max(1, int(min_seconds / 5 * 50e9 / flops))  # ~min_seconds/5 per run at 50 GFLOP/s
    best = float("inf")
    for _ in range(5):  # best of several: a ceiling, not an average
        start = time.perf_counter()
        for _ in range(reps):
            out = dot(a, b)
        jax.block_until_ready(out)
        best = min(best, (time.perf_counter() - start) / reps)
    return flops / best


# ---------------------------------------------------------------------------
# hybridrl
# ---------------------------------------------------------------------------


def synthetic_device_data(seed: int = 0) -> dict[str, jax.Array]:
    """Random transitions with the keys ``hybridrl.data.sampler.to_device`` produces."""
    rng = np.random.default_rng(seed)
    masks = np.ones(NUM_TRANSITIONS, np.float32)
    masks[999::1000] = 0.0  # a terminal every 1000 steps
    return {
        "observations": jnp.asarray(rng.standard_normal((NUM_TRANSITIONS, OBS_DIM), np.float32)),
        "actions": jnp.asarray(rng.uniform(-1, 1, (NUM_TRANSITIONS, ACT_DIM)).astype(np.float32)),
        "rewards": jnp.asarray(rng.standard_normal(NUM_TRANSITIONS, np.float32)),
        "next_observations": jnp.asarray(rng.standard_normal((NUM_TRANSITIONS, OBS_DIM), np.float32)),
        "masks": jnp.asarray(masks),
    }


def bench_hybridrl(algo: str, num_seeds: int, chunk: int, calls: int, data: dict) -> dict:
    """Compile one chunk of ``chunk`` updates per seed, run it once untimed, then time ``calls`` chunks."""
    agent = AGENTS[algo]
    config = agent.Config(hidden_dims=HIDDEN, batch_size=BATCH)
    states, keys = jax.block_until_ready(init_states(agent, config, Spec(OBS_DIM, ACT_DIM), list(range(num_seeds))))
    start = time.perf_counter()
    train = make_train_chunk(agent, BATCH, chunk, num_seeds=num_seeds).lower(states, keys, data).compile()
    compile_s = time.perf_counter() - start
    states, keys, metrics = train(states, keys, data)  # warm-up call (first-touch allocations)
    jax.block_until_ready((states, keys, metrics))
    start = time.perf_counter()
    for _ in range(calls):
        states, keys, metrics = train(states, keys, data)
    jax.block_until_ready((states, keys, metrics))
    seconds = time.perf_counter() - start
    per_seed = chunk * calls / seconds
    finite = all(bool(jnp.all(jnp.isfinite(v))) for k, v in metrics.items() if k != "actor_loss")
    return {"seeds": num_seeds, "compile_s": compile_s, "timed_updates_per_seed": chunk * calls,
            "seconds": seconds, "ups_per_seed": per_seed, "ups_total": per_seed * num_seeds,
            "metrics_finite": finite}


# ---------------------------------------------------------------------------
# d3rlpy, in its own venv
# ---------------------------------------------------------------------------


def ensure_d3rlpy_venv(log) -> Path:
    """Python of a venv with torch==2.13.0 (CPU wheel) and d3rlpy==2.8.1; created once, then reused."""
    python = D3RLPY_VENV / "bin" / "python"
    marker = D3RLPY_VENV / ".hybridrl-bench-ready"
    if marker.exists() and python.exists():
        return python
    log(f"creating d3rlpy venv at {D3RLPY_VENV} (first run only: about 1-2 minutes of pip installs)")
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(D3RLPY_VENV)], check=True)
    pip = [str(python), "-m", "pip", "install", "--quiet"]
    # torch first, pinned: an unpinned torch would pull a multi-GB CUDA build.
    for requirement in (f"torch=={TORCH_VERSION}", f"d3rlpy=={D3RLPY_VERSION}"):
        log(f"  pip install {requirement}")
        done = subprocess.run([*pip, requirement], capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"pip install {requirement} failed in {D3RLPY_VENV}:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    check = subprocess.run([str(python), "-c", "import d3rlpy, torch; print(d3rlpy.__version__, torch.__version__)"],
                           capture_output=True, text=True)
    if check.returncode != 0 or not check.stdout.startswith(D3RLPY_VERSION):
        raise RuntimeError(f"d3rlpy venv broken: {check.stdout}{check.stderr[-2000:]}")
    marker.write_text(check.stdout)
    return python


def run_d3rlpy(python: Path, algos: list[str], steps: int, threads: int, timeout: float) -> dict:
    """One worker process per thread count, so torch's thread pools are set before any work."""
    cmd = [str(python), str(WORKER), "--algos", ",".join(algos), "--steps", str(steps),
           "--warmup", str(max(20, steps // 10)), "--threads", str(threads)]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    env.pop("PYTHONPATH", None)
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"d3rlpy worker failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def cpu_busy_fraction(seconds: float = 1.0) -> float | None:
    """Share of all cores busy (or stolen by the hypervisor) over ``seconds``, from /proc/stat; None off Linux."""

    def snapshot():
        with open("/proc/stat") as f:
            fields = [float(x) for x in f.readline().split()[1:]]
        idle = fields[3] + fields[4]  # idle + iowait
        return sum(fields[:8]) - idle, sum(fields[:8])

    try:
        busy0, total0 = snapshot()
        time.sleep(seconds)
        busy1, total1 = snapshot()
    except (OSError, ValueError, IndexError):
        return None
    return (busy1 - busy0) / max(total1 - total0, 1e-9)


# ---------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------


def fmt(x: float | None, spec: str = ".1f", suffix: str = "") -> str:
    return "-" if x is None else f"{x:{spec}}{suffix}"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=2000,
                        help="timed hybridrl updates per seed and configuration (rounded up to whole chunks)")
    parser.add_argument("--chunk", type=int, default=1000, help="updates per compiled host call")
    parser.add_argument("--seeds", type=int, default=8, help="seeds in the vmapped configuration")
    parser.add_argument("--d3rlpy-steps", type=int, default=300, help="timed d3rlpy updates per algorithm")
    parser.add_argument("--torch-threads", default=f"1,{os.cpu_count()}",
                        help="comma-separated torch thread counts to try for d3rlpy; the fastest is the comparator")
    parser.add_argument("--skip-d3rlpy", action="store_true", help="measure hybridrl only")
    parser.add_argument("--algos", default="td3_bc,iql")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument("--watchdog", type=float, default=900.0,
                        help="seconds one measurement may take before the script dumps its stack and exits")
    args = parser.parse_args(argv)
    algos = [a.strip() for a in args.algos.split(",") if a.strip()]
    unknown = [a for a in algos if a not in AGENTS]
    if unknown:
        parser.error(f"unknown algorithm(s) {unknown}; choose from {', '.join(AGENTS)}")
    calls = max(1, -(-args.steps // args.chunk))

    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False, width=max(160, shutil.get_terminal_size().columns))
    log = lambda msg: console.print(f"[dim]{msg}[/dim]")  # noqa: E731
    load = os.getloadavg()
    busy = cpu_busy_fraction()
    machine = {
        "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
        "loadavg_1m_at_start": load[0], "cpu_busy_at_start": busy, "python": platform.python_version(), "jax": jax.__version__,
        "jax_backend": jax.default_backend(), "jax_enable_x64": bool(jax.config.jax_enable_x64),
        "XLA_FLAGS": os.environ.get("XLA_FLAGS", ""), "date": datetime.datetime.now().isoformat(timespec="seconds"),
    }
    console.print(f"[bold]hybridrl throughput[/bold]  obs {OBS_DIM}, act {ACT_DIM}, batch {BATCH}, "
                  f"MLP {'x'.join(map(str, HIDDEN))}, {NUM_TRANSITIONS:,} random transitions")
    busy_text = "unknown" if busy is None else f"{100 * busy:.0f}%"
    console.print(f"machine: {machine['cores']} cores, {busy_text} busy before start (load average {load[0]:.2f}); "
                  f"jax {jax.__version__} "
                  f"on {machine['jax_backend']}, x64 {'ON' if machine['jax_enable_x64'] else 'off'}, "
                  f"XLA_FLAGS={machine['XLA_FLAGS']!r}")
    if not args.skip_d3rlpy and not (D3RLPY_VENV / ".hybridrl-bench-ready").exists():
        console.print(f"d3rlpy venv not built yet: this run creates {D3RLPY_VENV} first (1-2 extra minutes, once)")
    if busy is not None and busy > 0.2:
        console.print(f"[yellow]warning: other processes use {100 * busy:.0f}% of the CPU; figures (d3rlpy's "
                      "multi-threaded torch most of all) will be low and noisy[/yellow]")

    # Two ceilings: a large matmul (what the cores can do), and one 256-row layer
    # (256x256 @ 256x256, the shape that dominates these updates).
    peak = matmul_flops_per_s(2048, 2048, 2048)
    layer = matmul_flops_per_s(BATCH, HIDDEN[0], HIDDEN[1])
    log(f"float32 matmul: 2048x2048 {peak / 1e9:.1f} GFLOP/s (peak); 256x256 layer {layer / 1e9:.1f} GFLOP/s")

    data = synthetic_device_data()
    results: dict = {"machine": machine, "matmul_peak_flops": peak, "layer_matmul_flops": layer, "algos": {}}
    for algo in algos:
        entry = results["algos"][algo] = {"flops_per_update": update_flops(algo)}
        for seeds, key in ((1, "hybridrl_1"), (args.seeds, f"hybridrl_{args.seeds}")):
            log(f"{algo}: hybridrl {seeds} seed(s), {calls} x {args.chunk} updates ...")
            faulthandler.dump_traceback_later(args.watchdog, exit=True)  # a hang becomes a stack dump
            entry[key] = bench_hybridrl(algo, seeds, args.chunk, calls, data)
            faulthandler.cancel_dump_traceback_later()
            log(f"  compiled in {entry[key]['compile_s']:.1f}s; {entry[key]['ups_per_seed']:.1f} upd/s per seed")
            if not entry[key]["metrics_finite"]:
                console.print(f"[yellow]warning: {algo} produced non-finite losses on random data[/yellow]")

    d3 = None
    if not args.skip_d3rlpy:
        try:
            python = ensure_d3rlpy_venv(log)
            runs = {}
            for threads in sorted({int(t) for t in args.torch_threads.split(",")}):
                log(f"d3rlpy: {args.d3rlpy_steps} updates per algorithm, torch threads {threads} ...")
                runs[threads] = run_d3rlpy(python, algos, args.d3rlpy_steps, threads, args.watchdog)
            d3 = {"versions": next(iter(runs.values()))["versions"], "by_threads": runs}
            results["d3rlpy_versions"] = {k: v for k, v in d3["versions"].items() if k != "torch_threads"}
            for algo in algos:
                # The comparator is d3rlpy at its best thread count: a peer is never handicapped.
                best = max(runs, key=lambda t: runs[t]["results"][algo]["fit_ups"])
                results["algos"][algo]["d3rlpy"] = {**runs[best]["results"][algo], "torch_threads": best}
                results["algos"][algo]["d3rlpy_by_threads"] = {t: r["results"][algo] for t, r in runs.items()}
        except (RuntimeError, OSError, subprocess.SubprocessError, json.JSONDecodeError) as err:
            console.print(f"[red]d3rlpy measurement failed, reporting hybridrl only:[/red] {err}")
            results["d3rlpy_error"] = str(err)

    many = f"hybridrl_{args.seeds}"
    table = Table(title=f"gradient updates per second, {machine['cores']}-core CPU "
                        f"(float32 peak {peak / 1e9:.0f} GFLOP/s, 256x256 layer {layer / 1e9:.0f} GFLOP/s)")
    for col in ("algo", "implementation", "upd/s per seed", "upd/s total", "vs d3rlpy",
                "GFLOP/s", "% peak", "% layer", "compile s"):
        table.add_column(col, justify="left" if col in ("algo", "implementation") else "right")
    final_lines = []
    for algo in algos:
        e = results["algos"][algo]
        flops = e["flops_per_update"]
        d3_fit = e.get("d3rlpy", {}).get("fit_ups")

        def row(label, per_seed, total, ratio, compile_s):
            table.add_row(algo, label, fmt(per_seed), fmt(total), ratio, fmt(total * flops / 1e9),
                          fmt(100 * total * flops / peak, ".0f", "%"), fmt(100 * total * flops / layer, ".0f", "%"),
                          fmt(compile_s))

        for key in ("hybridrl_1", many):
            r = e[key]
            r["gflops"] = r["ups_total"] * flops / 1e9
            r["fraction_of_peak"] = r["ups_total"] * flops / peak
            r["fraction_of_layer_matmul"] = r["ups_total"] * flops / layer
            r["ratio_vs_d3rlpy_per_seed"] = r["ups_per_seed"] / d3_fit if d3_fit else None
            r["ratio_vs_d3rlpy_total"] = r["ups_total"] / d3_fit if d3_fit else None
            if not d3_fit:
                ratio = "-"
            elif r["seeds"] == 1:
                ratio = f"{r['ratio_vs_d3rlpy_per_seed']:.2f}x"
            else:
                ratio = f"{r['ratio_vs_d3rlpy_total']:.2f}x total, {r['ratio_vs_d3rlpy_per_seed']:.2f}x/seed"
            label = "hybridrl, 1 seed" if r["seeds"] == 1 else f"hybridrl, {r['seeds']} seeds (vmap)"
            row(label, r["ups_per_seed"], r["ups_total"], ratio, r["compile_s"])
        for threads, d in sorted(e.get("d3rlpy_by_threads", {}).items()):
            comparator = threads == e["d3rlpy"]["torch_threads"]
            row(f"d3rlpy fit (sample+update), {threads} thr", d["fit_ups"], d["fit_ups"],
                "1.00x (ref)" if comparator else f"{d['fit_ups'] / d3_fit:.2f}x", None)
            row(f"d3rlpy update only, {threads} thr", d["update_ups"], d["update_ups"], f"{d['update_ups'] / d3_fit:.2f}x", None)

        one, n = e["hybridrl_1"], e[many]
        line = f"{algo}: hybridrl 1 seed {one['ups_per_seed']:.1f} upd/s"
        if d3_fit:
            t = e["d3rlpy"]["torch_threads"]
            line += (f", d3rlpy {d3_fit:.1f} upd/s ({t} torch thread{'s' * (t > 1)}), "
                     f"ratio {one['ratio_vs_d3rlpy_per_seed']:.2f}x")
        line += f"; {n['seeds']} seeds {n['ups_total']:.0f} upd/s total, {n['ups_per_seed']:.1f} per seed"
        if d3_fit:
            line += f" ({n['ratio_vs_d3rlpy_total']:.2f}x total, {n['ratio_vs_d3rlpy_per_seed']:.2f}x per seed)"
        line += (f"; {flops / 1e6:.0f} MFLOP/update: {100 * one['fraction_of_peak']:.0f}% of matmul peak at 1 seed "
                 f"({100 * one['fraction_of_layer_matmul']:.0f}% of a 256x256 layer matmul), "
                 f"{100 * n['fraction_of_peak']:.0f}% at {n['seeds']} seeds")
        final_lines.append(line)

    console.print()
    console.print(table)
    console.print("FLOPs per update are counted by hand (matmuls only; table in bench/throughput.py): "
                  + ", ".join(f"{a} {results['algos'][a]['flops_per_update'] / 1e6:.1f} MFLOP" for a in algos)
                  + ". '% peak' = achieved FLOP/s / 2048x2048 matmul FLOP/s; '% layer' = / 256x256 @ 256x256 matmul FLOP/s.")
    if "td3_bc" in algos:
        extra = (4 * dense_flops([OBS_DIM, *HIDDEN, ACT_DIM]) + 10 * dense_flops([OBS_DIM + ACT_DIM, *HIDDEN, 1])) \
            / update_flops("td3_bc") - 1
        console.print(f"Under vmap TD3+BC's lax.cond becomes a select: the actor step is computed on every update "
                      f"(+{100 * extra:.0f}% FLOPs, not counted above).")
    if d3:
        v = d3["versions"]
        console.print(f"d3rlpy {v['d3rlpy']} on torch {v['torch']} (CPU, eager). 'vs d3rlpy' divides by d3rlpy's sample + "
                      "update (what its fit() runs per step; hybridrl's step samples too) at its fastest thread count.")
    console.print(f"CPU busy before start: {busy_text}; load average at the end {os.getloadavg()[0]:.2f} "
                  "(includes this benchmark)")
    for line in final_lines:
        print(line)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.json.with_suffix(args.json.suffix + ".tmp")
        tmp.write_text(json.dumps(results, indent=2))
        tmp.replace(args.json)
        console.print(f"wrote {args.json}")
    return results


if __name__ == "__main__":
    main()
