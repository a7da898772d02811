"""NeoRL-2 Fusion: KSTAR-like tokamak shape control on neural surrogate models (shared/reference/neorl2.md section 6).

The agent moves six machine inputs ("sliders": plasma current, elongation, two triangularities, inner and
outer midplane radii) so that three plasma outputs (beta_p, q95, l_i) follow targets that, like the three
neutral-beam powers, are re-drawn at random every step. The dynamics are three Keras ensembles exported to
ONNX by the NeoRL-2 project (a steady-state MLP for the reset, ten LSTMs for the step, ten small MLPs for
beta_p), run here with onnxruntime, the runtime they were exported for.

The ONNX files are not part of hybridrl (section 11: they cannot be rebuilt). Point the environment at a
copy of NeoRL-2's ``neorl2/envs/data/fusion_lstm/weights/`` folder with ``model_dir=`` (also through
``gymnasium.make("neorl2/Fusion-v0", model_dir=...)``) or the environment variable
``HYBRIDRL_NEORL2_FUSION_DIR``; the argument wins over the variable.

Faithful to the sheet: the slider table, their integer-milli storage and the 20-addition ramp (so actions
are quantised to 0.001 by truncation), the 19 LSTM relaxation calls per step on a persistent 10-row buffer,
the beta_p ensemble, the observation layout (targets and beam powers shown are those of the *next* step),
the reward against the previous observation's targets, no termination, unclipped outputs,
``RandomState(seed)`` at a seeded reset and ``RandomState(numpy.random.randint(1, 100))`` from the global
numpy generator at an unseeded one (so only 99 unseeded random streams exist, section 10.6).

The reset quirk is kept by default: ``reset()`` does not restore the sliders, targets or beam powers, so a
reused instance starts its next episode where the last one ended (the data were collected on a fresh
instance per episode). ``restore_on_reset=True`` restores the constructor's values at every reset, as the
sheet recommends for new work; Gymnasium's ``check_env`` (which steps, resets with the same seed and expects
the same transition) passes only with it.

Deviations: the observation space leaves the three network outputs unbounded, because NeoRL-2's declared
bounds exclude even the first observation (l_i = 1.0795 > 1.06); the declared bounds are kept as
``DECLARED_OBS_LOW``/``DECLARED_OBS_HIGH``. The ONNX sessions are built once in the constructor instead of at
every reset; they hold no state, so this changes nothing but the cost.

Accuracy: replaying data trajectory 0 (``reset(seed=0)`` and its actions) repeats the sliders, targets and beam
powers exactly and the three outputs within 1e-5 (onnxruntime 1.32 on an x86 CPU; the kernels of the run that
made the data evidently rounded differently, since the sheet reached 5e-7 with a float re-implementation).
One step costs 190 LSTM evaluations (19 relaxation calls of 10 networks), about 0.4 s on one CPU core.
``FusionVectorEnv`` steps many machines with one call per network, which ``gymnasium.make_vec`` and hybridrl's
evaluations use (see its docstring for what it gains).
"""

from __future__ import annotations

import os
from pathlib import Path

import gymnasium as gym
import numpy as np
import onnxruntime

MODEL_DIR_ENV = "HYBRIDRL_NEORL2_FUSION_DIR"
ENSEMBLE_SIZE = 10
NN_FILE = "nn/best_model0.onnx"  # only model 0 of the steady-state net is used (section 6 "Surrogate models")
LSTM_FILES = tuple(f"lstm/best_model{i}.onnx" for i in range(ENSEMBLE_SIZE))
BPW_FILES = tuple(f"bpw/best_model{i}.onnx" for i in range(ENSEMBLE_SIZE))
MODEL_FILES = (NN_FILE, *LSTM_FILES, *BPW_FILES)
_WHERE = (
    f"set {MODEL_DIR_ENV} (or pass model_dir=) to a folder holding nn/best_model0.onnx, "
    f"lstm/best_model0..9.onnx and bpw/best_model0..9.onnx, a copy of neorl2/envs/data/fusion_lstm/weights/ "
    "from the NeoRL-2 project (github.com/polixir/NeoRL2)"
)

# Sliders, section 6 "Machine inputs": name, initial value, min, max. Stored as int(1000 * value).
SLIDERS = (
    ("Ip", 0.5, 0.3, 0.8),  # action 0
    ("Bt", 1.8, 1.5, 2.7),
    ("GWfrac", 0.275, 0.2, 0.6),
    ("Pnb1a", 1.5, 0.0, 1.75),  # random external
    ("Pnb1b", 1.5, 0.0, 1.75),  # random external
    ("Pnb1c", 0.5, 0.0, 1.5),  # random external
    ("Pec2", 0.0, 0.0, 0.8),
    ("Pec3", 0.0, 0.0, 0.8),
    ("Zec2", 0.0, -10.0, 10.0),
    ("Zec3", 0.0, -10.0, 10.0),
    ("R_in", 1.32, 1.265, 1.36),  # action 4
    ("R_out", 2.22, 2.18, 2.29),  # action 5
    ("kappa", 1.7, 1.6, 2.0),  # action 1
    ("delta_u", 0.3, 0.1, 0.5),  # action 2
    ("delta_l", 0.75, 0.5, 0.9),  # action 3
)
IP, BT, GW, PNB1A, PNB1B, PNB1C, PEC2, PEC3, ZEC2, ZEC3, R_IN, R_OUT, KAPPA, DELTA_U, DELTA_L = range(15)
ACTION_SLIDERS = np.array([IP, KAPPA, DELTA_U, DELTA_L, R_IN, R_OUT])  # action i moves slider ACTION_SLIDERS[i]
BEAM_SLIDERS = np.array([PNB1A, PNB1B, PNB1C])
SLIDER_MIN = np.array([s[2] for s in SLIDERS])
SLIDER_MAX = np.array([s[3] for s in SLIDERS])
RAMP_STEPS = 20  # section 6 "Step" 2
RELAX_STEPS = 19  # section 6 "Step" 3
LSTM_ROWS = 10
YEAR = 2021.0
R_IN_FLAG = 1.2651  # u16 flag = 1 if R_in > 1.2651

# Targets (beta_p*, q95*, l_i*): initial values and the ranges they are re-drawn from (section 6 "Targets").
TARGET_INIT = (1.6, 5.0, 0.95)
TARGET_LOW = (1.1, 3.8, 0.84)
TARGET_HIGH = (2.1, 6.2, 1.06)
BEAM_HIGH = (1.75, 1.75, 1.5)  # beam powers ~ U(0, high)
TARGET_SCALE = np.array([0.2, 0.5, 0.05])  # reward error scale

# De-normalisation of the surrogate outputs, y = raw * std + mean (section 6 "Surrogate models").
NN_MEAN = np.array([1.22379703, 5.2361062, 1.64438005, 1.12040048])
NN_STD = np.array([0.72255576, 1.5622809, 0.96563557, 0.23868018])
LSTM_MEAN = np.array([1.30934765, 5.20082444, 1.47538417, 1.14439883])
LSTM_STD = np.array([0.74135689, 1.44731883, 0.56747578, 0.23018484])
BPW_MEAN = np.array([1.021588, 187408.512])
BPW_STD = np.array([0.643390272, 122543.529])

# NeoRL-2's declared observation bounds (section 6 "Step" 6). The network outputs (entries 6-8) do not respect
# them (l_i is 1.0795 > 1.06 in the very first observation, q95 reaches 8.07 in the data), so the observation
# space leaves those three entries unbounded; the others always lie within.
DECLARED_OBS_LOW = np.array([0.3, 1.6, 0.1, 0.5, 1.265, 2.18, 1.1, 3.8, 0.84, 1.1, 3.8, 0.84, 0, 0, 0], np.float32)
DECLARED_OBS_HIGH = np.array([0.8, 2.0, 0.5, 0.9, 1.36, 2.29, 2.1, 6.2, 1.06, 2.1, 6.2, 1.06, 1.75, 1.75, 1.5],
                             np.float32)  # fmt: skip
OUTPUT_ENTRIES = slice(6, 9)  # beta_p, q95, l_i
OBS_LOW = DECLARED_OBS_LOW.copy()
OBS_HIGH = DECLARED_OBS_HIGH.copy()
OBS_LOW[OUTPUT_ENTRIES], OBS_HIGH[OUTPUT_ENTRIES] = -np.inf, np.inf
OBS_DIM, ACT_DIM = 15, 6


def to_milli(value: float) -> int:
    """NeoRL-2's slider storage: ``int(1000 * value)``, truncating toward zero (section 6 "Machine inputs")."""
    return int(value * 1000)


def reward_fn(obs, action, next_obs) -> np.ndarray:
    """r = -ln(sqrt(mean(e**2))), e = (next_obs[6:9] - obs[9:12]) / (0.2, 0.5, 0.05) (section 6 "Reward").

    The new outputs (beta_p, q95, l_i) are compared with the targets shown in the *previous* observation.
    Works on one transition or a batch (leading dimensions); ``action`` is unused.
    """
    obs = np.asarray(obs, dtype=np.float64)
    next_obs = np.asarray(next_obs, dtype=np.float64)
    error = (next_obs[..., 6:9] - obs[..., 9:12]) / TARGET_SCALE
    return -np.log(np.sqrt(np.mean(error**2, axis=-1)))


def terminated_fn(obs, action, next_obs) -> np.ndarray:
    """Fusion never terminates (section 6 "Termination"): all False, shaped like the batch."""
    return np.zeros(np.shape(next_obs)[:-1], dtype=bool)


def resolve_model_dir(model_dir: str | os.PathLike | None = None) -> Path:
    """The folder holding the 21 ONNX files: ``model_dir`` if given, else ``$HYBRIDRL_NEORL2_FUSION_DIR``.

    Raises FileNotFoundError with one line that names the variable, the files and where to get them.
    """
    if model_dir is None:
        model_dir = os.environ.get(MODEL_DIR_ENV) or None
    if model_dir is None:
        raise FileNotFoundError(f"Fusion needs NeoRL-2's ONNX dynamics models, and none were given: {_WHERE}")
    folder = Path(model_dir).expanduser()
    missing = [name for name in MODEL_FILES if not (folder / name).is_file()]
    if missing:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        raise FileNotFoundError(f"Fusion model folder {str(folder)!r} lacks {missing[0]}{more}: {_WHERE}")
    return folder


class _Model:
    """One ONNX network; ``__call__`` maps a float32 batch (leading dimension) to its raw output rows."""

    def __init__(self, path: Path):
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1  # tiny networks: threads cost more than they give, and vector envs multiply
        options.inter_op_num_threads = 1
        self._session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name  # names differ from file to file
        self._output = self._session.get_outputs()[0].name

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self._session.run([self._output], {self._input: np.asarray(x, dtype=np.float32)})[0]


class FusionSurrogate:
    """The three surrogate models of section 6, each returning de-normalised outputs for a batch of machines.

    ``steady(x17)`` (k, 17) -> (beta_n, q95, q0, l_i) (k, 4) from the NN; ``dynamics(X)`` (k, 10, 21) -> the same
    four from the mean of the ten LSTMs on the 10x21 buffers; ``beta_p(x8)`` (k, 8) -> beta_p (k,) from the mean
    of the ten BPW nets. One call per network covers the whole batch.
    """

    def __init__(self, model_dir: Path):
        self._nn = _Model(model_dir / NN_FILE)
        self._lstms = [_Model(model_dir / name) for name in LSTM_FILES]
        self._bpws = [_Model(model_dir / name) for name in BPW_FILES]

    def steady(self, x17: np.ndarray) -> np.ndarray:
        return self._nn(x17) * NN_STD + NN_MEAN

    def dynamics(self, buffers: np.ndarray) -> np.ndarray:
        return np.mean([model(buffers) * LSTM_STD + LSTM_MEAN for model in self._lstms], axis=0)

    def beta_p(self, x8: np.ndarray) -> np.ndarray:
        return np.mean([model(x8) * BPW_STD + BPW_MEAN for model in self._bpws], axis=0)[:, 0]


INITIAL_SLIDERS = np.array([to_milli(s[1]) for s in SLIDERS], dtype=np.int64)
INITIAL_TARGETS = np.array([to_milli(v) for v in TARGET_INIT], dtype=np.int64)


class _Machines:
    """The state of ``num`` tokamaks, reset and stepped together by index (section 6 "Reset" and "Step").

    ``FusionEnv`` is one machine, ``FusionVectorEnv`` many; both run this code, so the batched environment
    differs from the single one only where onnxruntime rounds a batch differently (about 1e-6 in the outputs).
    ``idx`` is an integer array of the machines to act on; every network is called once for all of them.
    """

    def __init__(self, num: int, models: FusionSurrogate):
        self.models = models
        self.sliders = np.tile(INITIAL_SLIDERS, (num, 1))  # integer milli-units, 15 per machine
        self.targets = np.tile(INITIAL_TARGETS, (num, 1))
        self.buffers = np.zeros((num, LSTM_ROWS, 21), dtype=np.float32)  # columns 0-3 outputs, 4-20 inputs x17
        self.outputs = np.zeros((num, 4))  # (beta_n, q95, q0, l_i)
        self.beta_p = np.zeros(num)
        self.rngs: list[np.random.RandomState | None] = [None] * num
        self.obs = np.zeros((num, OBS_DIM), dtype=np.float32)  # the last observation returned

    def _u16(self, idx: np.ndarray) -> np.ndarray:
        """[Ip, Bt, Pnb1a, Pnb1b, Pnb1c, Pec2, Pec3, Zec2, Zec3, R_geo, a_min, kappa, delta_u, delta_l, flag, GW]."""
        v = self.sliders[idx] / 1000.0
        r_geo = (v[:, R_IN] + v[:, R_OUT]) / 2
        a_min = (v[:, R_OUT] - v[:, R_IN]) / 2
        flag = np.where(v[:, R_IN] > R_IN_FLAG, 1.0, 0.0)
        return np.stack([
            v[:, IP], v[:, BT], v[:, PNB1A], v[:, PNB1B], v[:, PNB1C], v[:, PEC2], v[:, PEC3], v[:, ZEC2], v[:, ZEC3],
            r_geo, a_min, v[:, KAPPA], v[:, DELTA_U], v[:, DELTA_L], flag, v[:, GW],
        ], axis=1)  # fmt: skip

    def _compute_beta_p(self, idx: np.ndarray) -> np.ndarray:
        """BPW input [beta_n, Ip, Bt, R_geo, a_min, kappa, delta_u, delta_l]."""
        u16 = self._u16(idx)
        return self.models.beta_p(np.concatenate([self.outputs[idx, :1], u16[:, [0, 1, 9, 10, 11, 12, 13]]], axis=1))

    def _observation(self, idx: np.ndarray) -> np.ndarray:
        v = self.sliders[idx] / 1000.0
        outputs = self.outputs[idx]
        return np.concatenate([
            v[:, ACTION_SLIDERS],
            self.beta_p[idx, None], outputs[:, [1]], outputs[:, [3]],
            self.targets[idx] / 1000.0,
            v[:, BEAM_SLIDERS],
        ], axis=1).astype(np.float32)  # fmt: skip

    def reset(self, idx: np.ndarray, seeds: list[int | None], restore: bool) -> np.ndarray:
        """Steady prediction from the current sliders (or the initial ones if ``restore``); returns the observations.

        The step draws come from ``RandomState(seed)``, or without a seed from
        ``RandomState(numpy.random.randint(1, 100))`` drawn from the global numpy generator (NeoRL-2's quirk).
        """
        for seed in seeds:
            if seed is not None and not 0 <= seed < 2**32:
                raise ValueError(f"Fusion seeds a numpy RandomState, so seed must be in [0, 2**32 - 1]; got {seed}")
        for i, seed in zip(idx, seeds):
            self.rngs[i] = np.random.RandomState(seed if seed is not None else np.random.randint(1, 100))
        if restore:
            self.sliders[idx] = INITIAL_SLIDERS
            self.targets[idx] = INITIAL_TARGETS
        x17 = np.concatenate([self._u16(idx), np.full((len(idx), 1), YEAR)], axis=1)
        self.outputs[idx] = self.models.steady(x17)
        self.buffers[idx] = np.concatenate([self.outputs[idx], x17], axis=1)[:, None, :]  # every row holds [y, x17]
        self.beta_p[idx] = self._compute_beta_p(idx)
        self.obs[idx] = self._observation(idx)
        return self.obs[idx]

    def step(self, idx: np.ndarray, actions: np.ndarray, draw: bool) -> tuple[np.ndarray, np.ndarray]:
        """Move, relax, re-draw targets and beams if ``draw``; returns (observations, rewards)."""
        self._move_sliders(idx, actions)
        self._relax(idx)
        self.beta_p[idx] = self._compute_beta_p(idx)
        if draw:
            for i in idx:
                self._draw_targets_and_beams(i)
        obs = self._observation(idx)
        reward = reward_fn(self.obs[idx], actions, obs)  # against the targets the agent was shown
        self.obs[idx] = obs
        return obs, reward

    def _move_sliders(self, idx: np.ndarray, actions: np.ndarray) -> None:
        """Section 6 "Step" 1-2: desired values, then 20 equal additions and integer-milli truncation."""
        p = (np.clip(np.asarray(actions, dtype=np.float64), -1.0, 1.0) + 1) / 2
        lo, hi = SLIDER_MIN[ACTION_SLIDERS], SLIDER_MAX[ACTION_SLIDERS]
        desired = lo + p * (hi - lo)
        cells = np.ix_(idx, ACTION_SLIDERS)
        current = self.sliders[cells] / 1000.0
        delta = (desired - current) / RAMP_STEPS
        for _ in range(RAMP_STEPS):  # replicate the accumulation: it can land 0.001 below `desired`
            current = current + delta
        self.sliders[cells] = np.trunc(current * 1000).astype(np.int64)

    def _relax(self, idx: np.ndarray) -> None:
        """Section 6 "Step" 3: 19 LSTM calls; each row pairs an input with the previous output."""
        buffers = self.buffers[idx]
        u16 = self._u16(idx)
        for _ in range(RELAX_STEPS):
            buffers[:, :-1, 4:] = buffers[:, 1:, 4:]
            buffers[:, -1, 4:20] = u16  # the year column stays 2021
            outputs = self.models.dynamics(buffers)
            buffers[:, :-1, :4] = buffers[:, 1:, :4]
            buffers[:, -1, :4] = outputs
        self.buffers[idx] = buffers
        self.outputs[idx] = outputs

    def _draw_targets_and_beams(self, i: int) -> None:
        """Section 6 "Step" 5: beta_p*, q95*, l_i*, Pnb1a, Pnb1b, Pnb1c, in this order, each int(1000 x)."""
        rng = self.rngs[i]
        self.targets[i] = [to_milli(rng.uniform(lo, hi)) for lo, hi in zip(TARGET_LOW, TARGET_HIGH)]
        for slider, high in zip(BEAM_SLIDERS, BEAM_HIGH):
            self.sliders[i, slider] = to_milli(rng.uniform(0.0, high))


def _spaces() -> tuple[gym.spaces.Box, gym.spaces.Box]:
    return (gym.spaces.Box(OBS_LOW, OBS_HIGH, dtype=np.float32),
            gym.spaces.Box(-1.0, 1.0, shape=(ACT_DIM,), dtype=np.float32))  # fmt: skip


_ONE = np.array([0])


class FusionEnv(gym.Env):
    """Tokamak shape control on NeoRL-2's ONNX surrogates (neorl2.md section 6).

    Observation (15, float32): sliders Ip, kappa, delta_u, delta_l, R_in, R_out; outputs beta_p, q95, l_i;
    targets beta_p*, q95*, l_i* and beam powers Pnb1a, Pnb1b, Pnb1c that hold during the next step.
    Action (6, in [-1, 1]): the six sliders, ``min + (a + 1) / 2 * (max - min)``, reached by a 20-step ramp.

    Args:
        random_target: re-draw the targets and beam powers every step (the benchmark's setting); if False
            they keep their constructor values.
        mode: accepted for NeoRL-2's registration signature ('train'); the sheet gives it no effect on Fusion.
        model_dir: folder with the ONNX files (see the module docstring); default ``$HYBRIDRL_NEORL2_FUSION_DIR``.
        restore_on_reset: restore the constructor's sliders, targets and beam powers at every reset. Default
            False is NeoRL-2's behaviour (an episode starts from the previous episode's last configuration).
    """

    metadata = {"render_modes": []}

    def __init__(
        self,
        random_target: bool = True,
        mode: str = "train",
        model_dir: str | os.PathLike | None = None,
        restore_on_reset: bool = False,
    ):
        self.random_target = random_target
        self.mode = mode
        self.restore_on_reset = restore_on_reset
        self.model_dir = resolve_model_dir(model_dir)
        self.observation_space, self.action_space = _spaces()
        self._machine = _Machines(1, FusionSurrogate(self.model_dir))
        self._started = False

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """See ``_Machines.reset``: a seeded reset draws from ``RandomState(seed)``, an unseeded one from one of 99."""
        super().reset(seed=seed)
        obs = self._machine.reset(_ONE, [seed], self.restore_on_reset)
        self._started = True
        return obs[0].copy(), {}

    def step(self, action):
        if not self._started:
            raise RuntimeError("FusionEnv.step called before reset")
        obs, reward = self._machine.step(_ONE, np.asarray(action)[None], self.random_target)
        return obs[0].copy(), float(reward[0]), False, False, {}


class FusionVectorEnv(gym.vector.VectorEnv):
    """``num_envs`` Fusion machines in one vector env that calls each ONNX network once per step for all of them.

    ``gymnasium.make_vec("neorl2/Fusion-v0", n)`` builds it (its registered ``vector_entry_point``), and so does
    hybridrl's ``make_vec_env`` for Fusion without wrappers; a Fusion string with wrappers gets a synchronous
    vector env of ``FusionEnv`` instead. It behaves as ``SyncVectorEnv`` over ``FusionEnv`` copies with the
    100-step time limit: same seeding (``seed=s`` seeds copy i with s + i; ``None`` draws from the global numpy
    generator, copy by copy), the same reset quirk per copy, NEXT_STEP (default) or SAME_STEP autoreset, and
    ``final_obs`` in ``info`` with SAME_STEP. Network outputs differ from the single env's by onnxruntime's
    rounding of a batch (about 1e-6), and so depend slightly on how many copies step together.
    At 30 copies a step takes 0.61 s against 6.09 s for synchronous copies (bench/fusion_vector.py, docs/neorl2.md).
    """

    def __init__(
        self,
        num_envs: int,
        random_target: bool = True,
        mode: str = "train",
        model_dir: str | os.PathLike | None = None,
        restore_on_reset: bool = False,
        max_episode_steps: int | None = None,
        autoreset_mode: gym.vector.AutoresetMode | str = gym.vector.AutoresetMode.NEXT_STEP,
    ):
        autoreset_mode = gym.vector.AutoresetMode(autoreset_mode)
        if autoreset_mode not in (gym.vector.AutoresetMode.NEXT_STEP, gym.vector.AutoresetMode.SAME_STEP):
            raise ValueError(f"FusionVectorEnv supports NEXT_STEP and SAME_STEP autoreset, not {autoreset_mode}")
        self.num_envs = num_envs
        self.random_target = random_target
        self.mode = mode
        self.restore_on_reset = restore_on_reset
        self.max_episode_steps = max_episode_steps
        self.model_dir = resolve_model_dir(model_dir)
        self.metadata = {"autoreset_mode": autoreset_mode}
        self.single_observation_space, self.single_action_space = _spaces()
        self.observation_space = gym.vector.utils.batch_space(self.single_observation_space, num_envs)
        self.action_space = gym.vector.utils.batch_space(self.single_action_space, num_envs)
        self._machines = _Machines(num_envs, FusionSurrogate(self.model_dir))
        self._all = np.arange(num_envs)
        self._elapsed = np.zeros(num_envs, dtype=np.int64)
        self._autoreset = np.zeros(num_envs, dtype=bool)
        self._started = False

    def reset(self, *, seed: int | list[int | None] | None = None, options: dict | None = None):
        if seed is None:
            seeds = [None] * self.num_envs
        elif isinstance(seed, int):
            seeds = [seed + i for i in range(self.num_envs)]
        else:
            seeds = list(seed)
        if len(seeds) != self.num_envs:
            raise ValueError(f"reset got {len(seeds)} seeds for {self.num_envs} environments")
        obs = self._machines.reset(self._all, seeds, self.restore_on_reset)
        self._elapsed[:] = 0
        self._autoreset[:] = False
        self._started = True
        return obs.copy(), {}

    def _reset_unseeded(self, idx: np.ndarray) -> None:
        if not idx.size:
            return
        self._machines.reset(idx, [None] * len(idx), self.restore_on_reset)
        self._elapsed[idx] = 0

    def step(self, actions):
        if not self._started:
            raise RuntimeError("FusionVectorEnv.step called before reset")
        actions = np.asarray(actions).reshape(self.num_envs, ACT_DIM)
        rewards = np.zeros(self.num_envs)
        stepping = ~self._autoreset  # NEXT_STEP: a copy whose episode ended resets now and ignores its action
        self._reset_unseeded(np.flatnonzero(self._autoreset))
        idx = np.flatnonzero(stepping)
        if idx.size:
            _, rewards[idx] = self._machines.step(idx, actions[idx], self.random_target)
            self._elapsed[idx] += 1
        truncated = np.zeros(self.num_envs, dtype=bool)
        if self.max_episode_steps is not None:
            truncated = stepping & (self._elapsed >= self.max_episode_steps)
        terminated = np.zeros(self.num_envs, dtype=bool)  # Fusion never terminates
        infos: dict = {}
        if self.metadata["autoreset_mode"] == gym.vector.AutoresetMode.SAME_STEP:
            if truncated.any():
                final_obs = np.full(self.num_envs, None, dtype=object)
                for i in np.flatnonzero(truncated):
                    final_obs[i] = self._machines.obs[i].copy()
                infos = {"final_obs": final_obs, "_final_obs": truncated.copy(), "final_info": {},
                         "_final_info": truncated.copy()}  # fmt: skip
                self._reset_unseeded(np.flatnonzero(truncated))
        else:
            self._autoreset = truncated.copy()
        return self._machines.obs.copy(), rewards, terminated, truncated, infos
