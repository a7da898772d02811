"""NeoRL-2 Simglucose: basal-insulin control of a type-1 diabetic (shared/reference/neorl2.md section 2).

The UVA/Padova 2008 patient model as ``simglucose`` implements it, with NeoRL-2's changes: a noiseless CGM
clipped to [10, 600], a fixed daily meal schedule, a random patient (one of 15) and start hour every
episode, an action in [-1, 1] mapped to a basal rate of 0-5 U/min, an observation of the CGM plus the
patient's 30 static parameters, a risk-based reward and termination when blood glucose leaves [40, 600].
One step is 3 minutes (three 1-minute ODE sub-steps); the registered time limit of 480 steps is 24 hours.

The patient parameters are read from ``simglucose_data/vpatient_params.csv``, simglucose's file (MIT licence, see
``simglucose_data/vpatient_params.NOTICE.md``); the sensor (Dexcom: sample time 3 min, clip [10, 600]) and pump
(Insulet: basal 0-30 U/min in steps of 0.05 pmol-equivalents) constants are written below.

Faithful to the sheet: the ODE and its integration (``scipy.integrate.ode`` 'dopri5', default tolerances, one
solver per episode advanced one minute at a time), the meal announcement and eating bookkeeping, the pump
quantisation, the sensor sampling and 3-reading average, the reward, termination on the true mean blood
glucose (not the CGM), the draw order (seed, seed, seed, hour, patient) at reset.

Seeding: NeoRL-2 draws the patient and start hour from the *global* ``numpy.random`` (section 10.2), so
``reset(seed=...)`` does not make an episode reproducible, Gymnasium's checker fails, and vector-env workers
forked from one process would all draw the same patients. hybridrl therefore draws them by default from its
own ``numpy.random.RandomState``: made from ``seed`` at a seeded reset and continued by unseeded ones. This is
the same stream ``numpy.random.seed(seed)`` starts, so ``reset(seed=i)`` gives data trajectory ``i``'s patient
and hour (the collection protocol seeds the global generator with ``i`` before ``reset``), and unseeded
episodes have the same distribution. ``global_rng=True`` restores NeoRL-2's behaviour.

Deviation: observations are float32 (the data's type; NeoRL-2's env returns float64). The reward and the
termination are computed inside ``step`` from the float64 values, as NeoRL-2 does.
"""

from __future__ import annotations

import csv
import functools
import math
from pathlib import Path

import gymnasium as gym
import numpy as np
from scipy.integrate import ode

PATIENT_CSV = Path(__file__).with_name("simglucose_data") / "vpatient_params.csv"

# Observation entries 1..30 (section 2 "Observation"), in this order.
OBS_PARAMS = (
    "BW", "Fsnc", "Ib", "Km0", "Vi", "Vm0", "Vmx", "b", "d", "f", "k1", "k2", "ka1", "ka2", "kabs", "kd",
    "ke1", "ke2", "ki", "kmax", "kp1", "kp2", "kp3", "ksc", "m1", "m2", "m30", "m4", "p2u", "u2ss",
)  # fmt: skip
OBS_LOW = np.array([0] + [23, 1, 82, 185, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 339, 0, 0, 3] + [0] * 9, np.float32)
OBS_HIGH = np.array([1000] + [112, 1, 139, 279, 1, 15, 1, 1, 1, 1, 1, 1, 1, 1, 2, 1, 1, 339, 1, 1, 12] + [1] * 8 + [3],
                    np.float32)  # fmt: skip
PATIENT_GROUPS = ("adolescent", "adult", "child")
TRAIN_PATIENTS = tuple(f"{group}#{i:03d}" for group in PATIENT_GROUPS for i in range(1, 6))
OTHER_PATIENTS = tuple(f"{group}#{i:03d}" for group in PATIENT_GROUPS for i in range(6, 11))  # mode != 'train'

STEP_MINUTES = 3  # one env step = 3 one-minute patient sub-steps
MAX_BASAL = 5.0  # U/min at action +1
U_TO_PMOL = 6000.0  # 1 U of insulin = 6000 pmol
PUMP_BASAL_INCREMENT = 0.05  # Insulet pump: basal quantised in pmol/min units of 0.05 ...
PUMP_BASAL_MAX = 30.0  # ... and clipped to [0, 30] U/min
SENSOR_SAMPLE_MINUTES = 3  # Dexcom
CGM_MIN, CGM_MAX = 10.0, 600.0  # NeoRL-2's sensor clip (upstream's lower clip is 39)
BG_LOW, BG_HIGH = 40.0, 600.0  # termination thresholds
EAT_RATE = 5.0  # g/min
# (minute of day, carbohydrate grams): 07:00, 09:30, 12:00, 15:00, 18:00, 21:30.
MEALS = {7 * 60: 45.0, 9 * 60 + 30: 10.0, 12 * 60: 70.0, 15 * 60: 10.0, 18 * 60: 80.0, 21 * 60 + 30: 10.0}
MINUTES_PER_DAY = 24 * 60


@functools.cache
def load_patients() -> dict[str, dict[str, float]]:
    """Every row of vpatient_params.csv as ``{name: {column: value}}`` (column names stripped of spaces)."""
    with PATIENT_CSV.open(newline="") as f:
        rows = list(csv.DictReader(f))
    return {
        row["Name"]: {key.replace(" ", ""): float(value) for key, value in row.items() if key != "Name"}
        for row in rows
    }


def risk(glucose) -> np.ndarray:
    """Magni's blood-glucose risk, 10 * (1.509 * ((ln g)**1.084 - 5.381))**2 (section 2 "Reward")."""
    return 10 * (1.509 * (np.log(glucose) ** 1.084 - 5.381)) ** 2


def reward_fn(obs, action, next_obs) -> np.ndarray:
    """r = 1 + (risk(CGM) - risk(CGM')) / 100; -15 if CGM' <= 40; 0 if CGM' >= 600 (section 2 "Reward").

    CGM is entry 0 of the observations. Works on one transition or a batch; ``action`` is unused.
    """
    cgm = np.asarray(obs, dtype=np.float64)[..., 0]
    next_cgm = np.asarray(next_obs, dtype=np.float64)[..., 0]
    reward = 1 + (risk(cgm) - risk(next_cgm)) / 100
    reward = np.where(next_cgm <= 40, -15.0, reward)
    return np.where(next_cgm >= 600, 0.0, reward)


def terminated_fn(obs, action, next_obs) -> np.ndarray:
    """NeoRL-2's offline done function: CGM' < 40 or CGM' > 600 (its ``simglucose_terminated`` module).

    The environment itself terminates on the true mean blood glucose of the step, which an observation does
    not hold; near 40 mg/dL the two can disagree (35 of 100,257 rows of the train data).
    """
    next_cgm = np.asarray(next_obs, dtype=np.float64)[..., 0]
    return (next_cgm < BG_LOW) | (next_cgm > BG_HIGH)


def pump_rate(action) -> float:
    """Action in [-1, 1] -> basal U/min: (a + 1) / 2 * 5, quantised and clipped by the Insulet pump."""
    a = float(np.clip(np.asarray(action, dtype=np.float64).reshape(-1)[0], -1.0, 1.0))
    rate = (a + 1) / 2 * MAX_BASAL
    rate = round(rate * U_TO_PMOL / PUMP_BASAL_INCREMENT) * PUMP_BASAL_INCREMENT / U_TO_PMOL  # half to even
    return min(max(rate, 0.0), PUMP_BASAL_MAX)


def patient_derivatives(t, x, carbs, insulin, p, q_last, f_last) -> list[float]:
    """Right-hand side of the UVA/Padova model (section 2 "ODE"), states x1..x13 as x[0]..x[12].

    carbs: grams eaten this minute; insulin: U/min; p: the patient's parameters; q_last, f_last: stomach content
    at the start of the current meal (mg) and grams eaten since then.
    """
    meal = 1000 * carbs  # mg/min
    insulin_in = insulin * U_TO_PMOL / p["BW"]  # pmol/kg/min
    # Gut: emptying rate of the stomach
    q_sto = x[0] + x[1]
    d_bar = q_last + 1000 * f_last
    if d_bar > 0:
        alpha = 5 / (2 * d_bar * (1 - p["b"]))
        beta = 5 / (2 * d_bar * p["d"])
        k_gut = p["kmin"] + (p["kmax"] - p["kmin"]) / 2 * (
            math.tanh(alpha * (q_sto - p["b"] * d_bar)) - math.tanh(beta * (q_sto - p["d"] * d_bar)) + 2
        )
    else:
        k_gut = p["kmax"]
    dx1 = -p["kmax"] * x[0] + meal
    dx2 = p["kmax"] * x[0] - k_gut * x[1]
    dx3 = k_gut * x[1] - p["kabs"] * x[2]
    # Glucose
    rate_appearance = p["f"] * p["kabs"] * x[2] / p["BW"]
    egp = p["kp1"] - p["kp2"] * x[3] - p["kp3"] * x[8]
    excretion = p["ke1"] * (x[3] - p["ke2"]) if x[3] > p["ke2"] else 0.0
    dx4 = max(egp, 0.0) + rate_appearance - p["Fsnc"] - excretion - p["k1"] * x[3] + p["k2"] * x[4]
    uptake = (p["Vm0"] + p["Vmx"] * x[6]) * x[4] / (p["Km0"] + x[4])
    dx5 = -uptake + p["k1"] * x[3] - p["k2"] * x[4]
    # Insulin
    dx6 = -(p["m2"] + p["m4"]) * x[5] + p["m1"] * x[9] + p["ka1"] * x[10] + p["ka2"] * x[11]
    plasma_insulin = x[5] / p["Vi"]
    dx7 = -p["p2u"] * x[6] + p["p2u"] * (plasma_insulin - p["Ib"])
    dx8 = -p["ki"] * (x[7] - plasma_insulin)
    dx9 = -p["ki"] * (x[8] - x[7])
    dx10 = -(p["m1"] + p["m30"]) * x[9] + p["m2"] * x[5]
    dx11 = insulin_in - (p["ka1"] + p["kd"]) * x[10]
    dx12 = p["kd"] * x[10] - p["ka2"] * x[11]
    dx13 = p["ksc"] * (x[3] - x[12])
    derivative = [dx1, dx2, dx3, dx4, dx5, dx6, dx7, dx8, dx9, dx10, dx11, dx12, dx13]
    for i in (3, 4, 5, 9, 10, 11, 12):  # x4, x5, x6, x10, x11, x12, x13 do not go below zero
        if x[i] < 0:
            derivative[i] = 0.0
    return derivative


class Patient:
    """One virtual patient advanced one minute at a time (section 2 "Meals", "Meal-state bookkeeping", "ODE")."""

    def __init__(self, name: str, start_minute: int):
        self.name = name
        self.params = load_patients()[name]
        self.start_minute = start_minute  # minute of day at t = 0
        self.state = np.array([self.params[f"x0_{i}"] for i in range(1, 14)])
        self.t = 0.0  # minutes
        self._pending_carbs = 0.0
        self._last_eaten = 0.0
        self._q_last = self.state[0] + self.state[1]
        self._f_last = 0.0
        self._solver = ode(patient_derivatives).set_integrator("dopri5")
        self._solver.set_initial_value(self.state, self.t)

    @property
    def glucose(self) -> float:
        """Blood glucose Gsub = x13 / Vg (mg/dL)."""
        return self.state[12] / self.params["Vg"]

    def step(self, insulin: float) -> None:
        """Announce the meal of this minute, eat at most 5 g, integrate one minute at ``insulin`` U/min."""
        minute_of_day = int(self.start_minute + self.t) % MINUTES_PER_DAY
        self._pending_carbs += MEALS.get(minute_of_day, 0.0)
        eaten = min(EAT_RATE, self._pending_carbs)
        self._pending_carbs = max(0.0, self._pending_carbs - EAT_RATE)
        if eaten > 0 and self._last_eaten <= 0:  # a meal starts
            self._q_last = self.state[0] + self.state[1]
            self._f_last = 0.0
        if eaten > 0:
            self._f_last += eaten
        self._last_eaten = eaten
        self._solver.set_f_params(eaten, insulin, self.params, self._q_last, self._f_last)
        self._solver.integrate(self._solver.t + 1)
        if not self._solver.successful():
            raise RuntimeError(f"Simglucose: the ODE solver failed for {self.name} at t = {self.t} min")
        self.state = self._solver.y.copy()
        self.t = self._solver.t


class SimglucoseEnv(gym.Env):
    """Type-1 diabetes basal-insulin control (neorl2.md section 2).

    Observation (31, float32): CGM (mg/dL) then the patient's 30 parameters :data:`OBS_PARAMS`.
    Action (1, in [-1, 1]): basal insulin ``(a + 1) / 2 * 5`` U/min, held for the step's 3 minutes.

    Args:
        mode: 'train' draws among adolescent/adult/child #001-#005 (the benchmark); anything else #006-#010.
        global_rng: draw the patient and start hour from the global ``numpy.random`` as NeoRL-2 does, so that
            ``reset(seed=...)`` does not fix them. Default False: a ``RandomState`` owned by the env (see the
            module docstring), which gives the same draws for ``reset(seed=i)`` as NeoRL-2 after
            ``numpy.random.seed(i)``.
    """

    metadata = {"render_modes": []}

    def __init__(self, mode: str = "train", global_rng: bool = False):
        self.mode = mode
        self.global_rng = global_rng
        self.patients = TRAIN_PATIENTS if mode == "train" else OTHER_PATIENTS
        self.observation_space = gym.spaces.Box(OBS_LOW, OBS_HIGH, dtype=np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)
        self._episode_rng = np.random.RandomState()  # replaced at a seeded reset
        self._patient: Patient | None = None
        self._cgm = 0.0
        self._sensor_reading = 0.0

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Draw the episode (section 2 "Episode setup"), read the sensor at t = 0.

        The three seeds NeoRL-2 draws first only seed objects that never draw, but they are drawn, to keep
        the stream aligned.
        """
        super().reset(seed=seed)
        if self.global_rng:
            rng = np.random  # the module's functions draw from the global generator
        else:
            if seed is not None:
                if not 0 <= seed < 2**32:
                    raise ValueError(f"Simglucose seeds a numpy RandomState, so seed must be in [0, 2**32 - 1]; "
                                     f"got {seed}")
                self._episode_rng = np.random.RandomState(seed)
            rng = self._episode_rng
        rng.randint(0, 1000)  # seed2 (seed3 = seed2 + 1 and seed4 = seed3 + 1 are not drawn)
        hour = int(rng.randint(0, 24))
        name = str(rng.choice(self.patients))
        self._patient = Patient(name, start_minute=60 * hour)
        self._sensor_reading = self._read_sensor()
        self._cgm = self._sensor_reading
        return self._observation(self._cgm), {"patient": name, "start_hour": hour}

    def _read_sensor(self) -> float:
        """Dexcom without noise: samples clip(Gsub, 10, 600) when the clock is a multiple of 3 min, else holds."""
        if int(self._patient.t) % SENSOR_SAMPLE_MINUTES == 0:
            self._sensor_reading = min(max(self._patient.glucose, CGM_MIN), CGM_MAX)
        return self._sensor_reading

    def _observation(self, cgm: float, dtype=np.float32) -> np.ndarray:
        params = self._patient.params
        return np.array([cgm, *(params[name] for name in OBS_PARAMS)], dtype=dtype)

    def step(self, action):
        if self._patient is None:
            raise RuntimeError("SimglucoseEnv.step called before reset")
        insulin = pump_rate(action)
        readings, glucose = [], []
        for _ in range(STEP_MINUTES):
            self._patient.step(insulin)
            readings.append(self._read_sensor())
            glucose.append(self._patient.glucose)
        previous = self._observation(self._cgm, np.float64)
        self._cgm = float(np.mean(readings))
        current = self._observation(self._cgm, np.float64)
        reward = float(reward_fn(previous, action, current))
        bg = float(np.mean(glucose))
        terminated = bool(bg < BG_LOW or bg > BG_HIGH)  # true blood glucose, not the CGM
        return current.astype(np.float32), reward, terminated, False, {"bg": bg, "insulin": insulin}
