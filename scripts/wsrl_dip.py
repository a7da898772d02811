"""The dip of WSRL fine-tuning from a good start (docs/finetune.md), in the setting of tests/train/test_finetune.py:
scripted InvertedPendulum-v5 data (20k transitions), 2,000 CQL pre-training updates, 64-64 networks, minibatches
of 64, 2 seeds, then WARMUP warm-up steps and ONLINE online steps, an evaluation every 250 environment steps.
    python scripts/wsrl_dip.py OUT MIX WARMUP [AGENT_JSON] [ONLINE]
    python scripts/wsrl_dip.py runs/wsrl-dip 0 1000 '{}' 4000        the dip and its recovery
    python scripts/wsrl_dip.py runs/wsrl-mix 0.5 1000                 with offline data in the batches
Prints every evaluation (phase, environment steps, seed, return); metrics.jsonl in OUT has q_data per log step.
"""
import json
import sys
import tempfile
from pathlib import Path

from hybridrl.data import load_dataset, save_minari
from hybridrl.data.generate import scripted_pendulum
from hybridrl.train.online import OnlineConfig, train_online

out, mix, warmup = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
agent = json.loads(sys.argv[4]) if len(sys.argv) > 4 else {}
online = int(sys.argv[5]) if len(sys.argv) > 5 else 2000
data = str(save_minari(scripted_pendulum(20_000, seed=0), "test/pendulum-scripted-v0", root=tempfile.mkdtemp()))
config = OnlineConfig(algo="wsrl", env="InvertedPendulum-v5", dataset=data, offline_steps=2000, online_steps=online,
                      seeds=2, start_steps=0, warmup_steps=warmup, eval_every=250, eval_episodes=5, log_every=50,
                      mix=mix, agent={"hidden_dims": [64, 64], "batch_size": 64, **agent})
train_online(config, out, dataset=load_dataset(data), progress=False)
for line in (out / "eval.jsonl").read_text().splitlines():
    r = json.loads(line)
    print(r["phase"], r["env_steps"], r["seed"], round(r["return_mean"]))
