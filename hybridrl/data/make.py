"""The D4RL locomotion suite, regenerated on Gymnasium v5 MuJoCo environments with no download.

Recipe (D4RL, Fu et al. 2020; shared/reference/README.md): *random* rolls out a
uniformly random policy; *expert* a fully trained SAC policy; *medium* a SAC
policy stopped at about a third of the expert's return; *medium-expert* is
medium and expert concatenated; *medium-replay* is the replay buffer of the
run that trained the medium policy. The SAC policies are ours, trained with
``hybridrl train sac`` and shipped as small actor files in
``hybridrl/data/policies`` with a manifest (seed, steps, evaluation return,
versions). Actions are sampled from the stochastic SAC policy, in batches over
vector environments.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Callable

import flax.serialization
import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np

from hybridrl.data.dataset import Dataset, DatasetError
from hybridrl.data.generate import collect
from hybridrl.data.transforms import unscale_actions
from hybridrl.envs.scores import D4RL_REF_SCORES
from hybridrl.envs.wrappers import make_env

ENVS = {"hopper": "Hopper-v5", "halfcheetah": "HalfCheetah-v5", "walker2d": "Walker2d-v5", "ant": "Ant-v5"}
KINDS = ("random", "medium", "expert", "medium-replay", "medium-expert", "conservative")
DEFAULT_SIZE = 1_000_000  # D4RL's 1M transitions per policy
# conservative: the expert's deterministic action plus this Gaussian noise in [-1, 1] units, the noise of
# NeoRL-2's Fusion behaviour policy (shared/reference/neorl2.md, section 0.6)
CONSERVATIVE_NOISE = 0.05
POLICY_DIR = Path(__file__).parent / "policies"
# NeoRL-2's learned behaviour policies (shared/reference/neorl2.md section 0.3): a folder of 4 checkpoints whose
# element 1 collects val and elements 0, 2 and 3 collect train (trajectory i: policy i mod 3). Ours are shipped as
# neorl2-TASK-p0 .. -p3. They act deterministically except on Simglucose (NeoRL-2's PPO samples its actions) and
# Fusion (NeoRL-2's designer adds N(0, 0.05^2) noise, drawn from the trajectory's seed).
NEORL2_SPLIT_POLICIES = {"train": (0, 2, 3), "val": (1,)}
NEORL2_SAMPLED = ("Simglucose",)
NEORL2_NOISE = {"Fusion": 0.05}


@dataclasses.dataclass(frozen=True)
class Recipe:
    env: str  # hopper, halfcheetah, walker2d, ant; neorl2; lock
    kind: str  # for lock: hH, the horizon

    @property
    def env_id(self) -> str:
        if self.env == "lock":
            from hybridrl.envs.comblock import lock_id

            return lock_id(int(self.kind[1:]))
        if self.env == "neorl2":
            from hybridrl.envs.neorl2 import TASK_NAMES, env_id

            return env_id(TASK_NAMES[self.kind.split("-")[0]])
        return ENVS[self.env]

    @property
    def name(self) -> str:
        return f"{self.env}-{self.kind}"


def parse_name(name: str) -> Recipe:
    """'hopper-medium-replay' -> Recipe('hopper', 'medium-replay'), with a one-line error for anything else."""
    env, _, kind = name.lower().partition("-")
    if env == "neorl2":
        return _parse_neorl2(name, kind)
    if env == "lock":
        return _parse_lock(name, kind)
    if env not in ENVS or kind not in KINDS:
        raise DatasetError(f"unknown dataset '{name}'; use ENV-KIND with ENV in {', '.join(ENVS)} and KIND in "
                           f"{', '.join(KINDS)}, e.g. hopper-medium; or neorl2-TASK, or lock-hH")
    return Recipe(env, kind)


def _parse_lock(name: str, horizon: str) -> Recipe:
    """'lock-h4': the H = 4 combination lock's epsilon-greedy data (HNPG's collect_offline.py)."""
    from hybridrl.envs.comblock import MAX_REGISTERED_HORIZON

    if not (horizon.startswith("h") and horizon[1:].isdigit() and 1 <= int(horizon[1:]) <= MAX_REGISTERED_HORIZON):
        raise DatasetError(f"unknown dataset '{name}'; combination-lock data are named lock-hH with the horizon H "
                           f"in 1..{MAX_REGISTERED_HORIZON}, e.g. lock-h4")
    return Recipe("lock", f"h{int(horizon[1:])}")


def _parse_neorl2(name: str, task: str) -> Recipe:
    """'neorl2-TASK' (train split) or 'neorl2-TASK-val': NeoRL-2's data by its collection protocol, DMSD from its
    published PID gains, the other tasks from shipped behaviour policies (neorl2-TASK-p0 .. -p3)."""
    from hybridrl.envs.neorl2 import TASK_NAMES as tasks

    task, _, split = task.partition("-")
    if task not in tasks or split not in ("", "train", "val"):
        raise DatasetError(f"unknown dataset '{name}'; NeoRL-2 data are named neorl2-TASK[-val] with TASK in "
                           f"{', '.join(sorted(tasks))}")
    return Recipe("neorl2", f"{task}-{split or 'train'}")


def read_manifest(directory: Path = POLICY_DIR) -> dict[str, Any]:
    path = Path(directory) / "manifest.json"
    return json.loads(path.read_text()) if path.exists() else {}


def load_behaviour_policy(env: str, level: str, directory: Path = POLICY_DIR) -> tuple[Any, dict[str, Any]]:
    """(actor parameters, manifest entry) of the shipped ``level`` (medium or expert) policy for ``env``."""
    entry = read_manifest(directory).get(f"{env}-{level}")
    if entry is None:
        shipped = ", ".join(sorted(read_manifest(directory))) or "none yet"
        raise DatasetError(f"no {level} behaviour policy is shipped for {env} (shipped: {shipped}); "
                           f"train one with `hybridrl train sac --env {ENVS[env]}` and export it with "
                           f"`hybridrl data export-policy`")
    return _read_policy(entry, directory)


def _read_policy(entry: dict[str, Any], directory: Path) -> tuple[Any, dict[str, Any]]:
    params = flax.serialization.msgpack_restore((Path(directory) / entry["file"]).read_bytes())
    return params, entry


def _scaling(entry: dict[str, Any]) -> tuple[np.ndarray, np.ndarray] | None:
    """(mean, std) a policy's actor saw observations through, ``(obs - mean) / std``; None for raw observations."""
    if "obs_mean" not in entry:
        return None
    return np.asarray(entry["obs_mean"], np.float32), np.asarray(entry["obs_std"], np.float32)


def _lock_data(recipe: Recipe, size: int | None, seed: int) -> Dataset:
    """The lock's offline data in the lock of ``recipe.env_id``: 50,000 episodes by default (HNPG's
    collect_offline.py), or the fewest whole H-step episodes holding ``size`` transitions."""
    from hybridrl.envs.comblock import OFFLINE_EPISODES, offline_dataset
    from hybridrl.envs.scores import COMBLOCK_REF_SCORES

    horizon = int(recipe.kind[1:])
    episodes = OFFLINE_EPISODES if size is None else -(-size // horizon)
    ds = offline_dataset(gym.make(recipe.env_id).unwrapped, episodes, seed=seed, env_id=recipe.env_id)
    low, high = COMBLOCK_REF_SCORES
    return dataclasses.replace(ds, name=recipe.name, ref_min_score=low, ref_max_score=high, metadata={
        **ds.metadata, "recipe": f"HNPG's epsilon-greedy lock data (epsilon 1/H) in {recipe.env_id} "
                                 f"(hybridrl data make)"})


def make_dataset(name: str, size: int | None = None, seed: int = 0, num_envs: int = 16,
                 policy_dir: Path = POLICY_DIR, on_progress: Callable[[int, int], None] | None = None) -> Dataset:
    """Generate dataset ``name`` (ENV-KIND, neorl2-TASK[-val] or lock-hH) with ``size`` transitions per policy
    (default: 1M for the locomotion suite, NeoRL-2's 100k train / 20k val, 50,000 episodes for the lock),
    deterministically for ``seed``.

    ``on_progress(done, total)`` reports collected transitions (not called for medium-replay, which trains).
    """
    recipe = parse_name(name)
    if size is not None and size < 1:
        raise DatasetError(f"--size must be at least 1, got {size}")
    if recipe.env == "lock":
        return _lock_data(recipe, size, seed)
    if recipe.env == "neorl2":
        from hybridrl.envs.neorl2 import TASK_NAMES

        task, split = recipe.kind.rsplit("-", 1)
        if task == "dmsd":
            from hybridrl.envs.neorl2.dmsd import regenerate_dmsd

            return regenerate_dmsd(split, size, first_seed=seed, on_progress=on_progress)  # trajectory i: seed + i
        return _neorl2_data(recipe, TASK_NAMES[task], split, size, seed, policy_dir, on_progress)
    size = DEFAULT_SIZE if size is None else size
    if recipe.kind == "medium-replay":
        if seed != 0:
            raise DatasetError(f"--seed does not apply to {recipe.name}: it re-runs the medium policy's SAC training "
                               f"with the seed that training recorded; drop --seed")
        ds = medium_replay(recipe.env, policy_dir)
    elif recipe.kind == "medium-expert":
        parts = [_rollouts(recipe.env, level, size, seed + i, num_envs, policy_dir,
                           on_progress and (lambda n, i=i: on_progress(i * size + n, 2 * size)))
                 for i, level in enumerate(("medium", "expert"))]
        ds = _concatenate(parts)
    else:
        ds = _rollouts(recipe.env, recipe.kind, size, seed, num_envs, policy_dir,
                       on_progress and (lambda n: on_progress(n, size)))
    low, high = D4RL_REF_SCORES[recipe.env]
    return dataclasses.replace(
        ds, name=recipe.name, ref_min_score=low, ref_max_score=high,
        metadata={**ds.metadata, "recipe": f"D4RL {recipe.kind} recipe on {recipe.env_id} (hybridrl data make)"
                  if recipe.kind != "conservative" else
                  f"conservative behaviour on {recipe.env_id}: the expert's deterministic action plus "
                  f"N(0, {CONSERVATIVE_NOISE}^2) noise (hybridrl data make)",
                  "seed": seed, "size_per_policy": size},
    )


def _neorl2_data(recipe: Recipe, task: str, split: str, size: int | None, seed: int, policy_dir: Path,
                 on_progress: Callable[[int, int], None] | None = None) -> Dataset:
    """NeoRL-2's ``split`` of one learned-policy ``task`` by its collection protocol, with our shipped policies."""
    from hybridrl.envs.neorl2.collect import collect

    manifest = read_manifest(policy_dir)
    keys = [f"neorl2-{task.lower()}-p{k}" for k in NEORL2_SPLIT_POLICIES[split]]
    missing = [k for k in keys if k not in manifest]
    if missing:
        raise DatasetError(f"'{recipe.name}': no {task} behaviour policies are shipped ({', '.join(missing)} missing "
                           f"in {policy_dir}); load NeoRL-2's official file instead (--dataset PATH/{task}-{split}.npz), "
                           f"or train and export them (docs/neorl2.md)")
    factories, names = [], []
    try:
        env = gym.make(recipe.env_id)
    except FileNotFoundError as exc:  # Fusion without NeoRL-2's ONNX models
        raise DatasetError(f"'{recipe.name}': {exc}") from exc
    act_dim = int(env.action_space.shape[0])
    env.close()
    for key in keys:
        params, entry = _read_policy(manifest[key], policy_dir)
        factories.append(_neorl2_policy(task, params, tuple(entry["hidden_dims"]), act_dim, _scaling(entry)))
        names.append(f"{entry['file']} (SAC, {entry['env_steps']:,} env steps, eval normalized "
                     f"{entry['eval_normalized']:.1f})")
    return collect(task, factories, split, size, first_seed=seed, metadata={
        "source": "regenerated by hybridrl data make (neorl2.md 0.3) with behaviour policies trained by hybridrl, "
                  "not NeoRL-2's", "policies": names}, on_progress=on_progress)


def _neorl2_policy(task: str, params: Any, hidden_dims: tuple[int, ...], act_dim: int,
                   scaling: tuple[np.ndarray, np.ndarray] | None = None):
    """A policy factory for :func:`hybridrl.envs.neorl2.collect.collect`: seed -> (obs -> action in [-1, 1])."""
    from hybridrl.nets import TanhGaussianActor, tanh_gaussian_sample

    actor = TanhGaussianActor(hidden_dims, act_dim)
    mean = _sac_mean(params, hidden_dims, act_dim, scaling)
    scale = _scale_fn(scaling)
    sample = jax.jit(lambda obs, key: tanh_gaussian_sample(*actor.apply(params, scale(obs)[None]), key)[0][0])
    noise = NEORL2_NOISE.get(task, 0.0)

    def factory(seed: int):
        rng, key = np.random.default_rng(seed), jax.random.PRNGKey(seed)

        def act(obs):
            nonlocal key
            obs = jnp.asarray(obs, jnp.float32)
            if task in NEORL2_SAMPLED:
                key, sub = jax.random.split(key)
                return np.asarray(sample(obs, sub))
            action = mean(obs[None])[0]
            return action + rng.normal(0.0, noise, action.shape).astype(np.float32) if noise else action

        return act

    return factory


def _action_bounds(env: str) -> tuple[np.ndarray, np.ndarray]:
    space = make_env(ENVS[env]).action_space
    return space.low.astype(np.float32), space.high.astype(np.float32)


def _rollouts(env: str, level: str, size: int, seed: int, num_envs: int, policy_dir: Path,
              on_progress: Callable[[int], None] | None = None) -> Dataset:
    low, high = _action_bounds(env)
    if level == "random":
        def policy(obs, rng):
            return unscale_actions(rng.uniform(-1.0, 1.0, (obs.shape[0], low.shape[0])).astype(np.float32), low, high)

        meta = {"policy": "uniform random"}
    elif level == "conservative":
        from hybridrl.data.conservative import conservative_policy

        params, entry = load_behaviour_policy(env, "expert", policy_dir)
        mean = _sac_mean(params, tuple(entry["hidden_dims"]), low.shape[0], _scaling(entry))
        # The four locomotion action spaces are [-1, 1]: the noise is the same in their units.
        policy = conservative_policy(lambda obs: unscale_actions(mean(obs), low, high), CONSERVATIVE_NOISE, low, high)
        meta = {"policy": f"{entry['file']} deterministic + N(0, {CONSERVATIVE_NOISE}^2) noise in [-1, 1] units "
                          f"(SAC, {entry['env_steps']:,} env steps)"}
    else:
        params, entry = load_behaviour_policy(env, level, policy_dir)
        policy = _sac_sampler(params, tuple(entry["hidden_dims"]), seed, low, high, _scaling(entry))
        meta = {"policy": f"{entry['file']} (SAC, {entry['env_steps']:,} env steps, eval return {entry['eval_return']:.1f})"}
    ds = collect(ENVS[env], policy, size, seed=seed, num_envs=num_envs, name=f"{env}-{level}", on_progress=on_progress)
    return dataclasses.replace(ds, metadata=meta)


def _sac_sampler(params: Any, hidden_dims: tuple[int, ...], seed: int, low: np.ndarray, high: np.ndarray,
                 scaling: tuple[np.ndarray, np.ndarray] | None = None):
    """A batched stochastic SAC policy ``(obs[n, d], rng) -> actions[n, a]`` in the environment's units."""
    from hybridrl.nets import TanhGaussianActor, tanh_gaussian_sample

    actor = TanhGaussianActor(hidden_dims, low.shape[0])
    scale = _scale_fn(scaling)

    @jax.jit
    def sample(obs, key):
        return tanh_gaussian_sample(*actor.apply(params, scale(obs)), key)[0]

    key = jax.random.PRNGKey(seed)

    def policy(obs, rng):
        nonlocal key
        key, sub = jax.random.split(key)
        return unscale_actions(np.asarray(sample(jnp.asarray(obs, jnp.float32), sub)), low, high)

    return policy


def _sac_mean(params: Any, hidden_dims: tuple[int, ...], act_dim: int,
              scaling: tuple[np.ndarray, np.ndarray] | None = None) -> Callable[[np.ndarray], np.ndarray]:
    """The deterministic SAC action tanh(mean), batched: ``obs[n, d] -> actions[n, a]`` in [-1, 1]."""
    from hybridrl.nets import TanhGaussianActor

    actor = TanhGaussianActor(hidden_dims, act_dim)
    scale = _scale_fn(scaling)
    apply = jax.jit(lambda obs: jnp.tanh(actor.apply(params, scale(obs))[0]))
    return lambda obs: np.asarray(apply(jnp.asarray(obs, jnp.float32)))


def _scale_fn(scaling: tuple[np.ndarray, np.ndarray] | None) -> Callable[[jax.Array], jax.Array]:
    """The observation transform the actor was trained behind (see :func:`_scaling`)."""
    if scaling is None:
        return lambda obs: obs
    mean, std = (jnp.asarray(x) for x in scaling)
    return lambda obs: (obs - mean) / std


def _concatenate(parts: list[Dataset]) -> Dataset:
    fields = ("observations", "actions", "rewards", "next_observations", "terminals", "timeouts")
    first = parts[0]
    return dataclasses.replace(first, **{f: np.concatenate([getattr(p, f) for p in parts]) for f in fields},
                               metadata={"policy": " then ".join(p.metadata["policy"] for p in parts)})


def export_behaviour_policy(run_dir: str | Path, step: int, name: str, seed_index: int = 0,
                            directory: Path = POLICY_DIR) -> dict[str, Any]:
    """Copy one seed's SAC actor at checkpoint ``step`` of an online run into ``directory`` as ``name`` (ENV-LEVEL).

    Writes ``{name}.msgpack`` (actor parameters only, Flax msgpack) and adds an entry to ``manifest.json``:
    the run's seed and config (so its replay buffer can be re-generated), the step, the evaluation return at
    that step, and package versions. Returns the entry.
    """
    from hybridrl.evaluate.policy import load_policy
    from hybridrl.train.run_dir import read_json, read_jsonl, write_json

    run_dir = Path(run_dir)
    target_env, is_medium = _policy_name(name)
    raw = read_json(run_dir / "config.json")
    if raw.get("mode") != "online" or raw["run"]["algo"] != "sac":
        raise DatasetError(f"{run_dir} is not an online SAC run; behaviour policies come from `hybridrl train sac`")
    if raw["run"]["env"] != target_env:
        raise DatasetError(f"{run_dir} trained on {raw['run']['env']}, not {target_env}")
    policy = load_policy(run_dir, step)
    seed = policy.seeds[seed_index]
    if is_medium:  # medium-replay re-generates this buffer; its fingerprint says whether it matched
        from hybridrl.train import checkpoint

        raw_buffer = checkpoint.restore(run_dir / "checkpoints" / f"step_{step:09d}.msgpack", None)["buffer"]
        digest = buffer_digest({k: np.asarray(v[seed_index]) for k, v in raw_buffer.items()})
    evals = [r for r in read_jsonl(run_dir / "eval.jsonl") if r["step"] == step and r["seed"] == seed]
    actor = jax.tree.map(lambda x: np.asarray(x[seed_index]), policy.states.actor_params)
    directory.mkdir(parents=True, exist_ok=True)
    file = f"{name}.msgpack"
    (directory / file).write_bytes(flax.serialization.msgpack_serialize(actor))
    meta = read_json(run_dir / "meta.json")
    entry = {
        "file": file,
        "env_id": target_env,
        "algo": "sac",
        "hidden_dims": list(raw["agent"]["hidden_dims"]),
        "seed": seed,
        "env_steps": step,
        "eval_return": evals[0]["return_mean"] if evals else None,
        "eval_normalized": evals[0].get("normalized_score") if evals else None,
        "eval_episodes": len(evals[0]["returns"]) if evals else None,
        **({"replay_buffer_sha256": digest} if is_medium else {}),
        # an actor trained on scaled observations (normalize_observations) is shipped with its scaling
        **({"obs_mean": policy.prep.obs_mean.tolist(), "obs_std": policy.prep.obs_std.tolist()}
           if raw["agent"].get("normalize_observations") else {}),
        "run_config": raw["run"],
        "agent_config": raw["agent"],
        "packages": meta.get("packages"),
        "git": meta.get("git"),
        "machine": meta.get("machine"),
        "xla_flags": meta.get("xla_flags"),
        "cpu_affinity": meta.get("cpu_affinity"),  # cores the run could use: XLA's thread pool follows it
        # the whole run's wall time split (init, compile, train, evaluate, io), once it has finished
        "run_timings_s": read_json(run_dir / "summary.json")["timings_s"] if (run_dir / "summary.json").exists() else None,
    }
    manifest = read_manifest(directory)
    manifest[name] = entry
    write_json(directory / "manifest.json", manifest)
    return entry


def _policy_name(name: str) -> tuple[str, bool]:
    """(environment id, whether it is a medium policy) of a behaviour policy's name: ENV-medium, ENV-expert or
    neorl2-TASK-pK (K = 0..3, NeoRL-2's four checkpoints; 1 collects val, the others train)."""
    import re

    from hybridrl.envs.neorl2 import TASK_NAMES, env_id

    found = re.fullmatch(r"neorl2-([a-z]+)-p([0-3])", name)
    tasks = {key: task for key, task in TASK_NAMES.items() if task != "DMSD"}
    if found and found[1] in tasks:
        return env_id(tasks[found[1]]), False
    recipe = None if name.startswith("neorl2-") else parse_name(name)
    if recipe is None or recipe.kind not in ("medium", "expert"):
        raise DatasetError(f"a behaviour policy is named ENV-medium, ENV-expert or neorl2-TASK-pK (K in 0..3, TASK in "
                           f"{', '.join(sorted(tasks))}), got '{name}'")
    return recipe.env_id, recipe.kind == "medium"


def _match_threads(entry: dict[str, Any]) -> None:
    """Use the original run's core count and XLA flags, if JAX's CPU backend is not initialised yet.

    Changes this process: its CPU affinity shrinks to the recorded number of cores, chosen by process id among
    the ones it may use (so that two re-runs started side by side do not share one core).
    """
    import os

    from jax._src import xla_bridge

    if xla_bridge.backends_are_initialized():
        return  # too late: the thread pool exists; replay_reproduced will say whether it matched anyway
    if entry.get("xla_flags") is not None:
        os.environ["XLA_FLAGS"] = entry["xla_flags"]
    cores = entry.get("cpu_affinity")
    if cores and hasattr(os, "sched_setaffinity") and len(os.sched_getaffinity(0)) > cores:
        allowed = sorted(os.sched_getaffinity(0))
        first = os.getpid() % len(allowed)
        os.sched_setaffinity(0, [allowed[(first + i) % len(allowed)] for i in range(cores)])


def buffer_digest(buffer: dict[str, np.ndarray]) -> str:
    """SHA-256 of one seed's filled replay buffer (fields in ``BUFFER_FIELDS`` order, float32 bytes)."""
    import hashlib

    from hybridrl.train.online import BUFFER_FIELDS

    h = hashlib.sha256()
    for k in BUFFER_FIELDS:
        h.update(np.ascontiguousarray(buffer[k], np.float32).tobytes())
    return h.hexdigest()


def medium_replay(env: str, policy_dir: Path = POLICY_DIR) -> Dataset:
    """The replay buffer of the run that trained the shipped medium policy, re-generated by training again.

    The run's recorded config and seed are replayed up to the medium policy's step (evaluation, logging and
    checkpoint intervals do not touch the training's randomness, so they are changed to save time), and the
    buffer of the medium policy's seed becomes the dataset: the random warm-up and every later transition.
    It reproduces the original buffer exactly only where the original run was never resumed and ran on the
    same software with the same CPU threads; a resumed run restarted its episodes at the resume, which a re-run
    does not repeat. XLA's CPU thread pool follows the cores the process may use, and a different pool changes
    float results within the first updates, so the re-run takes the run's recorded core count and XLA flags
    (``_match_threads``) when JAX has not started yet. The manifest keeps the original buffer's SHA-256, and
    the metadata key ``replay_reproduced`` says whether the re-run matched it.
    """
    import tempfile

    from hybridrl.train import checkpoint
    from hybridrl.train.online import OnlineConfig, train_online

    _, entry = load_behaviour_policy(env, "medium", policy_dir)
    step = int(entry["env_steps"])
    run = dict(entry["run_config"])
    index = int(entry["seed"]) - int(run["seed"])
    config = OnlineConfig(**{**run, "online_steps": step, "eval_every": step, "eval_episodes": 1,
                             "log_every": step, "checkpoint_every": step, "keep_checkpoints": 1})
    _match_threads(entry)
    with tempfile.TemporaryDirectory(prefix="hybridrl-medium-replay-") as tmp:
        train_online(config, Path(tmp) / "run", progress=False)
        buffer = checkpoint.restore(checkpoint.latest(Path(tmp) / "run" / "checkpoints")[1], None)["buffer"]
    b = {k: np.asarray(v[index]) for k, v in buffer.items()}
    expected = entry.get("replay_buffer_sha256")
    match = None if expected is None else buffer_digest(b) == expected
    reproduced = {None: "unknown (the manifest has no fingerprint of the original buffer)",
                  True: "exactly (SHA-256 equal to the original run's buffer)",
                  False: "approximately: the re-run differs from the original run's buffer (other software, "
                         "threads or a resumed original run)"}[match]
    terminals = b["masks"] < 0.5
    timeouts = (b["timeouts"] > 0.5) & ~terminals
    timeouts[-1] = not terminals[-1]  # the buffer stops mid-episode
    low, high = _action_bounds(env)
    scaling = _scaling(entry)
    if scaling is not None:  # the buffer stores observations as the agent saw them
        for k in ("observations", "next_observations"):
            b[k] = b[k] * scaling[1] + scaling[0]
    return Dataset(
        observations=b["observations"], actions=unscale_actions(b["actions"], low, high), rewards=b["rewards"],
        next_observations=b["next_observations"], terminals=terminals, timeouts=timeouts, name=f"{env}-medium-replay",
        env_id=ENVS[env], action_low=low, action_high=high,
        metadata={"policy": f"replay buffer of the SAC run behind {entry['file']}, re-run to step {step:,} "
                            f"with seed {entry['seed']}",
                  "replay_reproduced": reproduced},
    )
