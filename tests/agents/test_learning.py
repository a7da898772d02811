"""Every algorithm learns: on the scripted InvertedPendulum-v5 data (20k transitions,
mean normalized return of the data about 35) it must beat a stated normalized score
within a stated number of updates, with a fixed seed. An untrained policy scores
below 5 here."""

import pytest

from hybridrl.train.offline import RunConfig, train_offline

# (algorithm, updates, threshold on the normalized score of 5 evaluation episodes)
CASES = [("bc", 1_000, 90.0), ("td3_bc", 2_000, 90.0), ("iql", 1_500, 90.0)]


@pytest.mark.parametrize("algo, steps, threshold", CASES)
def test_learns_inverted_pendulum(algo, steps, threshold, pendulum_data, tmp_path):
    config = RunConfig(algo=algo, dataset="scripted_pendulum(20_000, seed=0)", env="InvertedPendulum-v5",
                       steps=steps, seeds=1, seed=0, eval_every=steps, eval_episodes=5, log_every=steps,
                       agent={"hidden_dims": [64, 64]})
    result = train_offline(config, pendulum_data, tmp_path / algo, progress=False)
    assert result.final_scores[0] >= threshold, f"{algo}: {result.final_scores[0]:.1f} < {threshold}"


def test_untrained_policy_scores_low(pendulum_data, tmp_path):
    """The thresholds above mean something: one update does not balance the pole."""
    config = RunConfig(algo="td3_bc", dataset="generated", env="InvertedPendulum-v5", steps=1, eval_every=1,
                       eval_episodes=5, log_every=1, agent={"hidden_dims": [64, 64]})
    result = train_offline(config, pendulum_data, tmp_path / "untrained", progress=False)
    assert result.final_scores[0] < 5.0
