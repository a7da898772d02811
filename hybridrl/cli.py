"""The `hybridrl` command line."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Offline, imitation and hybrid RL on JAX.")
data_app = typer.Typer(add_completion=False, no_args_is_help=True, help="Inspect, generate and export datasets and behaviour policies.")
app.add_typer(data_app, name="data")
runs_app = typer.Typer(add_completion=False, no_args_is_help=True, help="List and inspect run folders.")
app.add_typer(runs_app, name="runs")

console = Console()
err_console = Console(stderr=True)


def _enable_compilation_cache() -> None:
    """Reuse compiled programs across runs (JAX's persistent cache)."""
    import jax

    cache = os.environ.get("JAX_COMPILATION_CACHE_DIR") or str(Path.home() / ".cache" / "hybridrl" / "jax")
    jax.config.update("jax_compilation_cache_dir", cache)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)


def _fail(message: str, code: int = 2) -> None:
    from rich.markup import escape

    err_console.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True, highlight=False)  # "[x]" in a message is text
    raise typer.Exit(code)


def _num(value, fmt: str = ".1f") -> str:
    """A number for a table cell; '-' when missing."""
    return "-" if value is None else format(value, fmt)


def _parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """`--set key=value` pairs; values are parsed as JSON when they can be (numbers, true/false, lists)."""
    out: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            _fail(f"--set expects key=value, got '{pair}'")
        key, raw = pair.split("=", 1)
        try:
            out[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            out[key.strip()] = raw
    return out


def _run_training(config, dataset, out: Path, resume: bool, progress: bool, command: str = "train"):
    """Offline training on ``dataset`` (a RunConfig), online training / fine-tuning (an OnlineConfig) or hnpg (an
    HNPGRunConfig). ``command`` is the one that resumes the run, for the message after an interrupt."""
    from hybridrl.data.dataset import DatasetError
    from hybridrl.train.offline import RunError, train_offline
    from hybridrl.train.online import OnlineConfig, train_online
    from hybridrl.train.onpolicy import HNPGRunConfig, train_hnpg

    try:
        if isinstance(config, OnlineConfig):
            return train_online(config, out, dataset=dataset, resume=resume, progress=progress)
        if isinstance(config, HNPGRunConfig):
            return train_hnpg(config, out, dataset=dataset, resume=resume, progress=progress)
        return train_offline(config, dataset, out, resume=resume, progress=progress)
    except (DatasetError, RunError) as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        err_console.print(f"\ninterrupted; the newest checkpoint in {out}/checkpoints is kept. "
                          f"Continue with: hybridrl {command} --resume {out}")
        raise typer.Exit(130)


def _print_scores(result) -> None:
    table = Table(title=f"{result.config.algo} after {result.step:,} steps")
    table.add_column("seed", justify="right")
    table.add_column("return", justify="right")
    has_scores = result.final_scores is not None
    if has_scores:
        table.add_column("normalized score", justify="right")
    for i, seed in enumerate(result.config.seed_list()):
        row = [str(seed), f"{result.final_returns[i]:.1f}"]
        if has_scores:
            row.append(f"{result.final_scores[i]:.1f}")
        table.add_row(*row)
    mean_row = ["mean", f"{result.final_returns.mean():.1f}"]
    if has_scores:
        mean_row.append(f"{result.final_scores.mean():.1f}")
    table.add_row(*mean_row, style="bold")
    console.print(table)


@app.command()
def train(
    algo: Optional[str] = typer.Argument(None, help="bc, td3_bc, iql (offline) or sac (online); omit with --resume"),
    dataset: Optional[str] = typer.Option(None, "--dataset", help="Minari id or path to a Minari folder, .npz, .hdf5, .parquet or .csv"),
    env: Optional[str] = typer.Option(None, "--env", help="Gymnasium id for evaluation, e.g. Hopper-v5 (default: the dataset's)"),
    steps: int = typer.Option(100_000, "--steps", help="gradient updates per seed"),
    seeds: int = typer.Option(1, "--seeds", help="independent seeds, trained together in one vmapped program"),
    seed: int = typer.Option(0, "--seed", help="first seed"),
    eval_every: int = typer.Option(5_000, "--eval-every"),
    eval_episodes: int = typer.Option(10, "--eval-episodes"),
    log_every: int = typer.Option(1_000, "--log-every"),
    checkpoint_every: Optional[int] = typer.Option(None, "--checkpoint-every", help="default: every evaluation"),
    keep_checkpoints: int = typer.Option(3, "--keep-checkpoints", help="newest checkpoints kept on disk"),
    out: Optional[Path] = typer.Option(None, "--out", help="run folder (default: runs/ALGO-DATASET-TIME)"),
    resume: Optional[Path] = typer.Option(None, "--resume", help="continue this run folder from its newest checkpoint"),
    overrides: list[str] = typer.Option([], "--set", help="agent setting, e.g. --set expectile=0.9 (repeatable)"),
    columns: Optional[str] = typer.Option(None, "--columns", help="for CSV/Parquet: JSON mapping of field to column"),
    online_steps: Optional[int] = typer.Option(None, "--online-steps", help="online training: environment steps per seed (needs --env, no --dataset); with --resume, a longer budget extends the run"),
    start_steps: int = typer.Option(5_000, "--start-steps", help="online: uniform random actions and no updates for this many steps"),
    buffer_size: Optional[int] = typer.Option(None, "--buffer-size", help="online: replay capacity (default: --online-steps)"),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
    loggers: list[str] = typer.Option([], "--logger", help="also log to wandb or mlflow (repeatable; needs pip install 'hybridrl[wandb]' / '[mlflow]')"),
) -> None:
    """Train an agent offline on a dataset, or online (sac) in an environment; evaluate it in the environment."""
    from hybridrl.agents import get_agent
    from hybridrl.train.loggers import require as require_loggers
    from hybridrl.train.offline import RunConfig, RunError, load_run_config
    from hybridrl.train.online import OnlineConfig, extend, load_online_config
    from hybridrl.train.run_dir import run_mode

    _enable_compilation_cache()
    try:
        require_loggers(loggers)  # before any data is loaded
    except RunError as exc:
        _fail(str(exc))
    if resume is not None:
        mode = run_mode(resume)
        if mode == "onpolicy":
            _fail(f"{resume} is an hnpg run; resume it with hybridrl finetune --resume {resume}")
        try:
            config = load_online_config(resume) if mode == "online" else load_run_config(resume)
            if online_steps is not None:
                if mode != "online":
                    _fail(f"{resume} is an offline run; --online-steps with --resume extends an online run")
                config = extend(config, online_steps)
        except RunError as exc:
            _fail(str(exc))
        if algo is not None and algo != config.algo:
            _fail(f"{resume} is a {config.algo} run, not {algo}; drop ALGO or pass the right run folder")
        if loggers:  # for this process; the run folder keeps the loggers it was started with
            config.loggers = loggers
        out = resume
    elif online_steps is not None or (algo == "sac" and dataset is None):
        if dataset is not None:
            _fail("--online-steps trains without a dataset; to start from data use hybridrl finetune ALGO --dataset ...")
        if env is None:
            _fail("online training needs --env, e.g. --env Hopper-v5")
        try:
            get_agent(algo or "")
        except ValueError as exc:
            _fail(str(exc))
        out = out or Path("runs") / f"{algo}-{env}-{time.strftime('%Y%m%d-%H%M%S')}"
        config = OnlineConfig(algo=algo, env=env, online_steps=250_000 if online_steps is None else online_steps, seeds=seeds, seed=seed,
                              start_steps=start_steps, buffer_size=buffer_size, eval_every=eval_every,
                              eval_episodes=eval_episodes, log_every=log_every, checkpoint_every=checkpoint_every,
                              keep_checkpoints=keep_checkpoints, agent=_parse_overrides(overrides), loggers=loggers)
    else:
        if algo is None:
            _fail("missing ALGO: choose bc, td3_bc or iql (or pass --resume RUN_DIR)")
        if dataset is None:
            _fail("missing --dataset: pass a Minari id or a path to a dataset file or folder")
        try:
            get_agent(algo)
        except ValueError as exc:
            _fail(str(exc))
        name = Path(dataset).stem if Path(dataset).exists() else dataset.replace("/", "_")
        out = out or Path("runs") / f"{algo}-{name}-{time.strftime('%Y%m%d-%H%M%S')}"
        config = RunConfig(algo=algo, dataset=str(dataset), env=env, steps=steps, seeds=seeds, seed=seed,
                           eval_every=eval_every, eval_episodes=eval_episodes, log_every=log_every,
                           checkpoint_every=checkpoint_every, keep_checkpoints=keep_checkpoints, agent=_parse_overrides(overrides),
                           loggers=loggers)
    ds = _load_data(config.dataset, columns) if config.dataset is not None else None  # online runs may have none
    result = _run_training(config, ds, out, resume is not None, progress)
    if result.final_returns is not None:
        _print_scores(result)
    console.print(f"run saved in [bold]{out}[/]")


def _load_data(source: str, columns: Optional[str]):
    from hybridrl.data import DatasetError, load_dataset

    try:
        return load_dataset(source, columns=json.loads(columns) if columns else None)
    except json.JSONDecodeError as exc:
        _fail(f"--columns is not valid JSON ({exc.msg}); example: --columns '{{\"observations\": \"obs_*\"}}'")
    except DatasetError as exc:
        _fail(str(exc))


@app.command()
def finetune(
    algo: Optional[str] = typer.Argument(None, help="iql, rlpd, calql, wsrl, sac, or hnpg (combination lock); omit with --resume"),
    dataset: Optional[str] = typer.Option(None, "--dataset", help="the offline data: Minari id or path (as for train)"),
    env: Optional[str] = typer.Option(None, "--env", help="environment string for collection and evaluation (default: the dataset's)"),
    offline_steps: Optional[int] = typer.Option(None, "--offline-steps", help="pre-training updates (default: the algorithm's)"),
    online_steps: Optional[int] = typer.Option(None, "--online-steps", help="environment steps per seed (default 100000); with --resume, a longer budget extends the run"),
    mix: Optional[str] = typer.Option(None, "--mix", help="offline share of each batch: 0.5, annealed 0.5->0, union, or 0 (default: the algorithm's)"),
    warmup_steps: Optional[int] = typer.Option(None, "--warmup-steps", help="online steps with the pre-trained policy before updates (WSRL: 5000)"),
    start_steps: Optional[int] = typer.Option(None, "--start-steps", help="online steps with uniform random actions before updates"),
    seeds: Optional[int] = typer.Option(None, "--seeds", help="default 1 (with --init-from: its seeds)"),
    seed: Optional[int] = typer.Option(None, "--seed", help="default 0 (with --init-from: its first seed)"),
    eval_every: int = typer.Option(5_000, "--eval-every", help="in updates offline, in environment steps online"),
    eval_episodes: int = typer.Option(10, "--eval-episodes"),
    log_every: int = typer.Option(1_000, "--log-every"),
    checkpoint_every: Optional[int] = typer.Option(None, "--checkpoint-every", help="default: every evaluation"),
    keep_checkpoints: int = typer.Option(3, "--keep-checkpoints"),
    buffer_size: Optional[int] = typer.Option(None, "--buffer-size", help="online replay capacity (default: --online-steps)"),
    out: Optional[Path] = typer.Option(None, "--out", help="run folder (default: runs/finetune-ALGO-DATASET-TIME)"),
    resume: Optional[Path] = typer.Option(None, "--resume", help="continue this run folder from its newest checkpoint"),
    init_from: Optional[Path] = typer.Option(None, "--init-from", help="start from this offline run's networks (hybridrl train folder); ALGO and --dataset default to its own, --offline-steps to 0"),
    overrides: list[str] = typer.Option([], "--set", help="agent setting, e.g. --set utd=10 (repeatable)"),
    columns: Optional[str] = typer.Option(None, "--columns", help="for CSV/Parquet: JSON mapping of field to column"),
    horizon: Optional[int] = typer.Option(None, "--horizon", help="hnpg: the combination lock's horizon H (default: the dataset's, else 5)"),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
    loggers: list[str] = typer.Option([], "--logger", help="also log to wandb or mlflow (repeatable)"),
) -> None:
    """Offline-to-online fine-tuning: pre-train on a dataset, then collect online and keep training on mixed batches.

    hnpg (hybrid natural policy gradient) runs on-policy on the combination lock instead: every iteration rolls out
    1,000 steps, fits its critics on them and on the offline data, and takes one trust-region step."""
    from hybridrl.agents import get_agent
    from hybridrl.train.loggers import require as require_loggers
    from hybridrl.train.offline import RunError
    from hybridrl.train.online import OnlineConfig, extend, load_online_config, offline_run_config
    from hybridrl.train.run_dir import run_mode

    _enable_compilation_cache()
    try:
        require_loggers(loggers)
    except RunError as exc:
        _fail(str(exc))
    ds = None
    budget = 100_000 if online_steps is None else online_steps  # a new run's; with --resume, None keeps the run's
    if algo == "hnpg" or (resume is not None and run_mode(resume) == "onpolicy"):
        if resume is not None and online_steps is not None:
            _fail(f"{resume} is an hnpg run, which --resume cannot extend; drop --online-steps, or start a new run")
        if dataset is not None:
            ds = _load_data(dataset, None)
        if horizon is None:
            horizon = int(ds.metadata.get("horizon", 5)) if ds is not None else 5
        config, out = _hnpg_config(resume, env, budget, horizon, 0 if seed is None else seed, eval_every,
                                   eval_episodes, log_every, keep_checkpoints, out, overrides, loggers)
    elif resume is not None:
        if run_mode(resume) != "online":
            _fail(f"{resume} is not a fine-tuning or online run folder; resume offline runs with hybridrl train --resume")
        try:
            config = load_online_config(resume)
            if online_steps is not None:
                config = extend(config, online_steps)
        except RunError as exc:
            _fail(str(exc))
        if algo is not None and algo != config.algo:
            _fail(f"{resume} is a {config.algo} run, not {algo}; drop ALGO or pass the right run folder")
        config.loggers = loggers or config.loggers
        out = resume
        if config.dataset is not None:
            ds = _load_data(config.dataset, columns)
    else:
        if init_from is not None:
            try:
                recorded = offline_run_config(init_from)["run"]
            except RunError as exc:
                _fail(str(exc))
            algo, dataset = algo or recorded["algo"], dataset or recorded["dataset"]
            offline_steps = 0 if offline_steps is None else offline_steps
            seeds = recorded["seeds"] if seeds is None else seeds
            seed = recorded["seed"] if seed is None else seed
            overrides = [f"{k}={json.dumps(v)}" for k, v in recorded.get("agent", {}).items()] + list(overrides)
        if algo is None:
            _fail("missing ALGO: choose iql, rlpd, calql, wsrl, sac or hnpg (or pass --resume RUN_DIR)")
        if dataset is None:
            _fail("missing --dataset: fine-tuning starts from offline data (online from scratch: hybridrl train sac --online-steps N)")
        try:
            agent = get_agent(algo)
        except ValueError as exc:
            _fail(str(exc))
        defaults = getattr(agent, "FINETUNE", {})
        ds = _load_data(dataset, columns)
        env = env or ds.env_id
        if env is None:
            _fail(f"{dataset} names no environment; pass --env, e.g. --env Hopper-v5")
        name = Path(dataset).stem if Path(dataset).exists() else dataset.replace("/", "_")
        out = out or Path("runs") / f"finetune-{algo}-{name}-{time.strftime('%Y%m%d-%H%M%S')}"
        pick = lambda value, key, fallback: value if value is not None else defaults.get(key, fallback)  # noqa: E731
        config = OnlineConfig(algo=algo, env=env, online_steps=budget, seeds=1 if seeds is None else seeds,
                              seed=0 if seed is None else seed,
                              start_steps=pick(start_steps, "start_steps", 0), buffer_size=buffer_size,
                              eval_every=eval_every, eval_episodes=eval_episodes, log_every=log_every,
                              checkpoint_every=checkpoint_every, keep_checkpoints=keep_checkpoints,
                              agent=_parse_overrides(overrides), loggers=loggers, dataset=str(dataset),
                              offline_steps=pick(offline_steps, "offline_steps", 0), mix=pick(mix, "mix", "0.5"),
                              warmup_steps=pick(warmup_steps, "warmup_steps", 0),
                              init_from=None if init_from is None else str(init_from))
    result = _run_training(config, ds, out, resume is not None, progress, command="finetune")
    if result.final_returns is not None:
        _print_scores(result)
    console.print(f"run saved in [bold]{out}[/]; continue a stopped run with: hybridrl finetune --resume {out}")


def _hnpg_config(resume, env, online_steps, horizon, seed, eval_every, eval_episodes, log_every, keep_checkpoints,
                 out, overrides, loggers):
    """`hybridrl finetune hnpg`'s run config and folder: HNPG (or online-only TRPO with --set hybrid=false) on the
    combination lock, with the CLI's step counts turned into iterations of ``batch_size`` environment steps."""
    from hybridrl.train.onpolicy import HNPGRunConfig

    if resume is not None:
        try:
            config = HNPGRunConfig(**json.loads((Path(resume) / "config.json").read_text())["run"])
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            _fail(f"{resume}/config.json is not an hnpg run config ({exc}); pass the folder of an hnpg run")
        config.loggers = loggers or config.loggers
        return config, resume
    batch = HNPGRunConfig.batch_size
    config = HNPGRunConfig(env=env or HNPGRunConfig.env, horizon=horizon, seed=seed,
                           iterations=max(1, -(-online_steps // batch)), eval_every=max(1, eval_every // batch),
                           eval_episodes=eval_episodes, log_every=max(1, log_every // batch),
                           keep_checkpoints=keep_checkpoints, agent=_parse_overrides(overrides), loggers=loggers)
    return config, out or Path("runs") / f"finetune-hnpg-H{horizon}-{time.strftime('%Y%m%d-%H%M%S')}"


@app.command()
def demo(
    out: Optional[Path] = typer.Option(None, "--out", help="run folder (default: runs/demo-TIME)"),
    steps: int = typer.Option(3_000, "--steps", help="IQL updates per seed"),
    seeds: int = typer.Option(3, "--seeds"),
    transitions: int = typer.Option(50_000, "--transitions", help="size of the generated dataset"),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
) -> None:
    """Generate a small dataset, train IQL offline on several seeds, evaluate, and print the scores."""
    from hybridrl.data import save_minari
    from hybridrl.data.generate import PENDULUM_ENV, scripted_pendulum
    from hybridrl.train.offline import RunConfig

    _enable_compilation_cache()
    out = out or Path("runs") / f"demo-{time.strftime('%Y%m%d-%H%M%S')}"
    if out.exists() and any(out.iterdir()):
        _fail(f"{out} already exists and is not empty; choose another --out")
    with console.status(f"generating {transitions:,} transitions on {PENDULUM_ENV} with a scripted controller..."):
        ds = scripted_pendulum(transitions, seed=0)
        data_path = save_minari(ds, "hybridrl/invertedpendulum-scripted-v0", root=out / "datasets")
    console.print(f"dataset: {ds.num_episodes} episodes, {len(ds):,} transitions, mean return "
                  f"{ds.episode_returns.mean():.1f} (random {ds.ref_min_score:.1f}, expert {ds.ref_max_score:.0f}), saved in {data_path}")
    config = RunConfig(algo="iql", dataset=str(data_path), env=PENDULUM_ENV, steps=steps, seeds=seeds,
                       eval_every=max(steps // 3, 1), log_every=max(steps // 30, 1))
    run_dir = out / "iql"
    result = _run_training(config, ds, run_dir, False, progress)
    _print_scores(result)
    console.print(f"mean normalized score over {seeds} seeds: [bold]{result.final_scores.mean():.1f}[/]")
    console.print(f"run saved in [bold]{run_dir}[/]; dataset in [bold]{data_path}[/]")


@data_app.command("info")
def data_info(
    source: str = typer.Argument(..., help="Minari id or path to a dataset"),
    columns: Optional[str] = typer.Option(None, "--columns", help="for CSV/Parquet: JSON mapping of field to column"),
    as_json: bool = typer.Option(False, "--json", help="print the statistics as JSON"),
) -> None:
    """Episodes, transitions, return statistics, observation and action ranges."""
    from hybridrl.data import DatasetError, load_dataset
    from hybridrl.data.info import format_info

    try:
        ds = load_dataset(source, columns=json.loads(columns) if columns else None)
    except json.JSONDecodeError as exc:
        _fail(f"--columns is not valid JSON ({exc.msg})")
    except DatasetError as exc:
        _fail(str(exc))
    if as_json:
        console.print_json(json.dumps(ds.stats()))
    else:
        console.print(format_info(ds))


@data_app.command("make")
def data_make(
    name: str = typer.Argument(..., help="ENV-KIND: ENV in hopper, halfcheetah, walker2d, ant; KIND in random, medium, "
                                         "expert, medium-replay, medium-expert, conservative; or neorl2-TASK[-val] (DMSD "
                                         "from its PID gains, other tasks from shipped policies); or lock-hH (the "
                                         "H-step combination lock)"),
    size: Optional[int] = typer.Option(None, "--size", help="transitions per behaviour policy (default 1M; medium-expert "
                                                            "holds twice this; neorl2-TASK: 100k train, 20k val; "
                                                            "lock-hH: 50,000 episodes)"),
    seed: int = typer.Option(0, "--seed"),
    root: Optional[Path] = typer.Option(None, "--root", help="Minari datasets root (default: $MINARI_DATASETS_PATH or ~/.minari/datasets)"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace an existing dataset with the same id"),
) -> None:
    """Regenerate a D4RL-style locomotion dataset on Gymnasium v5 MuJoCo (or a NeoRL-2 task's data, or the
    combination lock's), saved as local Minari."""
    from hybridrl.data import DatasetError, save_minari
    from hybridrl.data.loaders import minari_target
    from hybridrl.data.make import make_dataset, parse_name
    from hybridrl.train.loggers import progress_bar

    try:
        recipe = parse_name(name)
        dataset_id = f"hybridrl/{recipe.name}-v0"
        minari_target(dataset_id, root, overwrite=overwrite)  # an existing dataset or a read-only root: say so now
        if recipe.kind == "medium-replay":
            with console.status("re-running the medium policy's SAC training to re-generate its replay buffer..."):
                ds = make_dataset(name, size=size, seed=seed)
        else:
            with progress_bar(disable=False) as bar:
                task = bar.add_task(f"collecting {name}", total=None, info="")
                ds = make_dataset(name, size=size, seed=seed,
                                  on_progress=lambda done, total: bar.update(task, completed=done, total=total))
        with console.status(f"writing {len(ds):,} transitions in {ds.num_episodes:,} episodes as Minari {dataset_id}..."):
            path = save_minari(ds, dataset_id, root=root, overwrite=overwrite)
    except DatasetError as exc:
        _fail(str(exc))
    returns = ds.episode_returns
    console.print(f"{dataset_id}: {len(ds):,} transitions, {ds.num_episodes:,} episodes, return mean {returns.mean():.4g} "
                  f"(min {returns.min():.4g}, max {returns.max():.4g}); saved in [bold]{path}[/]")
    if "replay_reproduced" in ds.metadata:
        console.print(f"replay buffer reproduced {ds.metadata['replay_reproduced']}")
    console.print(f"train on it with: hybridrl train iql --dataset {path}")


@data_app.command("export-policy")
def data_export_policy(
    run_dir: Path = typer.Argument(..., help="an online SAC run folder"),
    step: int = typer.Option(..., "--step", help="the checkpoint's environment step"),
    name: str = typer.Option(..., "--as", help="ENV-medium, ENV-expert (e.g. hopper-medium) or neorl2-TASK-pK (K in 0..3: NeoRL-2's 4 checkpoints, 1 for val)"),
    seed_index: int = typer.Option(0, "--seed-index", help="which of the run's seeds"),
) -> None:
    """Ship one SAC actor as a behaviour policy for `hybridrl data make` (writes hybridrl/data/policies)."""
    from hybridrl.data import DatasetError
    from hybridrl.data.make import export_behaviour_policy
    from hybridrl.train.offline import RunError

    try:
        entry = export_behaviour_policy(run_dir, step, name, seed_index)
    except (DatasetError, RunError) as exc:
        _fail(str(exc))
    console.print(f"{name}: step {entry['env_steps']:,}, eval return {entry['eval_return']}, file {entry['file']}")


@runs_app.command("ls")
def runs_ls(
    root: Path = typer.Argument(Path("runs"), help="folder searched for run folders (recursively)"),
    as_json: bool = typer.Option(False, "--json", help="print every figure as JSON"),
) -> None:
    """Runs under ROOT: algorithm, data, progress, score, speed, wall time split, peak memory, git commit."""
    from hybridrl.train.run_dir import RunError
    from hybridrl.train.runs import list_runs, short

    try:
        rows = list_runs(root)
    except RunError as exc:
        _fail(str(exc))
    if as_json:
        console.print_json(json.dumps(rows))
        return
    table = Table(title=f"{len(rows)} run(s) under {root}", caption="time s: compile/train/eval/io; ckpt N: not finished (running, or stopped: --resume); --json for all")
    for column in ("run", "algo", "data", "seeds", "steps", "status", "score", "upd/s", "time s", "peak MB", "commit"):
        table.add_column(column, justify="right" if column in ("seeds", "steps", "score", "upd/s", "peak MB") else "left",
                         overflow="fold")
    for r in rows:
        t = r["timings_s"]
        peak = (r["peak_memory_mb"] or {}).get("host")
        commit = "-" if r["git_commit"] is None else r["git_commit"][:7] + ("+" if r["git_dirty"] else "")
        table.add_row(r["run"], r["algo"] + (" online" if r["mode"] == "online" else ""), r["data"], str(r["seeds"]),
                      f"{short(r['step'])}/{short(r['planned_steps'])}", r["status"],
                      _num(r["score"], ".1f") + ("" if r["score"] is None or r["score_is_normalized"] else " (return)"),
                      _num(r["updates_per_s"], ",.0f"), "/".join(_num(t[k], ".0f") for k in ("compile", "train", "evaluate", "io")),
                      _num(peak, ",.0f"), commit)
    console.print(table)


@app.command("select")
def select(
    run_dirs: list[Path] = typer.Argument(..., help="run folders whose checkpoints are ranked (every seed of every checkpoint)"),
    dataset: str = typer.Option(..., "--dataset", help="Minari id or path to a dataset from the runs' environment"),
    steps: int = typer.Option(50_000, "--steps", help="FQE gradient steps"),
    split: str = typer.Option("held-out", "--split", help="held-out (a random 20% of whole episodes) or all"),
    overrides: list[str] = typer.Option([], "--set", help="FQE setting, e.g. --set discount=0.95 (repeatable)"),
    seed: int = typer.Option(0, "--seed", help="FQE initialisation and batch seed"),
    as_json: bool = typer.Option(False, "--json", help="print the result as JSON instead of a table"),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
) -> None:
    """Rank checkpoints by Fitted Q Evaluation on logged data, without the environment; writes RUN_DIR/selection.json."""
    from hybridrl.agents.base import dataclass_from_dict
    from hybridrl.data import DatasetError, load_dataset
    from hybridrl.evaluate.fqe import FQEConfig
    from hybridrl.evaluate.select import SPLITS, select_checkpoints, write_selection
    from hybridrl.train.run_dir import RunError

    _enable_compilation_cache()
    if split not in SPLITS:
        _fail(f"unknown --split '{split}'; use held-out or all")
    try:
        config = dataclass_from_dict(FQEConfig, {"steps": steps, **_parse_overrides(overrides)}, "FQE")
        config.check()
    except ValueError as exc:
        _fail(str(exc))
    try:
        ds = load_dataset(dataset)
        result = select_checkpoints(run_dirs, ds, dataset, split=split, config=config, seed=seed,
                                    progress=progress and not as_json)
        paths = write_selection(result, run_dirs)
    except (DatasetError, RunError, ValueError) as exc:
        _fail(str(exc))
    if as_json:
        console.print_json(json.dumps(result.to_dict()))
        return
    table = Table(title=f"{len(result.candidates)} checkpoint(s) ranked by FQE on {dataset} ({split}, "
                        f"{result.info['dataset']['episodes']} episodes, gamma {config.discount})",
                  caption="FQE: discounted value from the initial states; true: mean return in eval.jsonl")
    for column in ("rank", "run", "step", "seed", "FQE estimate", "true return", "normalized"):
        table.add_column(column, justify="left" if column == "run" else "right", no_wrap=column != "run")
    for i, c in enumerate(result.candidates, 1):
        table.add_row(str(i), c.run, f"{c.step:,}", str(c.seed), f"{c.fqe:.2f}", _num(c.true_return),
                      _num(c.normalized_score), style="bold" if i == 1 else None)
    console.print(table)
    pick = result.pick
    console.print(f"FQE picks {pick.run} step {pick.step:,} seed {pick.seed} (estimate {pick.fqe:.2f}, "
                  f"true return {_num(pick.true_return)})")
    if result.best_true is not None:
        best = result.best_true
        console.print(f"best true return: {best.true_return:.1f} ({best.run} step {best.step:,} seed {best.seed}); "
                      f"regret of the pick: {_num(result.regret)}")
    if result.spearman is not None:
        console.print(f"Spearman rank correlation, FQE vs true return: [bold]{result.spearman:.2f}[/] over {result.pairs} checkpoints")
    else:
        console.print(f"Spearman rank correlation: not available ({result.pairs} checkpoint(s) with a true return; needs 3 with distinct values)")
    console.print("written: " + ", ".join(str(p) for p in paths))


@app.command("evaluate")
def evaluate(
    run_dir: Path = typer.Argument(..., help="a run folder with checkpoints"),
    step: Optional[int] = typer.Option(None, "--step", help="checkpoint step [default: the newest]"),
    episodes: int = typer.Option(100, "--episodes", help="episodes per seed"),
    seed: Optional[int] = typer.Option(None, "--seed", help="reset seed of the first episode [default: the run's "
                                       "seed + 10,000, where training's evaluations start]"),
    as_json: bool = typer.Option(False, "--json", help="print the records as JSON instead of a table"),
) -> None:
    """Score a run's policies at a checkpoint on more episodes; appends to RUN_DIR/evaluations.jsonl."""
    import numpy as np

    from hybridrl.evaluate.policy import EVALUATIONS, evaluate_run
    from hybridrl.train.run_dir import RunError

    _enable_compilation_cache()
    try:
        with err_console.status(f"evaluating {run_dir}: {episodes} episodes per seed"):
            records = evaluate_run(run_dir, step, episodes, seed)
    except (RunError, ValueError) as exc:
        _fail(str(exc))
    if as_json:
        console.print_json(json.dumps(records))
        return
    scored = "normalized_score" in records[0]
    table = Table(title=f"{run_dir} at step {records[0]['step']:,}: {episodes} episodes per seed from reset seed "
                        f"{records[0]['eval_seed']}")
    for column in ("seed", "return mean", "return std", "length mean", *(["normalized"] if scored else [])):
        table.add_column(column, justify="right")
    for r in records:
        table.add_row(str(r["seed"]), f"{r['return_mean']:.1f}", f"{r['return_std']:.1f}", f"{r['length_mean']:.1f}",
                      *([f"{r['normalized_score']:.1f}"] if scored else []))
    console.print(table)
    key = "normalized_score" if scored else "return_mean"
    values = np.array([r[key] for r in records])
    console.print(f"{'normalized score' if scored else 'return'} over {len(records)} seed(s): "
                  f"[bold]{values.mean():.1f} ± {values.std():.1f}[/] (std over seeds); "
                  f"appended to {Path(run_dir) / EVALUATIONS}", soft_wrap=True)


@app.command("report")
def report(
    run_dirs: list[Path] = typer.Argument(..., help="run folders, or folders that hold them (searched recursively for config.json)"),
    out: Path = typer.Option(Path("report"), "--out", help="folder for report.md, index.html and the figures"),
    reps: int = typer.Option(50_000, "--reps", help="bootstrap repetitions for every interval"),
    seed: int = typer.Option(0, "--seed", help="bootstrap seed: same runs and seed, same report"),
) -> None:
    """Compare runs: final and best-checkpoint scores with bootstrap intervals, curves, profiles, one offline HTML page."""
    from hybridrl.analysis.report import ReportError, build_report

    try:
        with err_console.status("reading runs") as status:
            result = build_report(run_dirs, out, reps=reps, seed=seed, on_stage=status.update)
    except ReportError as exc:
        _fail(str(exc))
    console.print(f"{len(result.algos)} algorithm(s) x {len(result.tasks)} task(s), {result.runs} runs: "
                  f"wrote {len(result.files)} files to {result.out}; open {result.out / 'index.html'}")


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
