import numpy as np
import pytest

from hybridrl.envs.scores import normalized_score, reference_scores


def test_d4rl_constants_by_family():
    assert reference_scores("Hopper-v5") == (-20.272305, 3234.3)
    assert reference_scores("hopper-medium-v2") == (-20.272305, 3234.3)
    assert reference_scores("InvertedPendulum-v5") is None


def test_dataset_reference_scores_take_precedence():
    assert reference_scores("Hopper-v5", 0.0, 100.0) == (0.0, 100.0)


def test_normalized_score_by_hand():
    # hopper: 100 * (3234.3 - (-20.272305)) / (3234.3 + 20.272305) = 100; the random return scores 0
    ref = reference_scores("Hopper-v5")
    np.testing.assert_allclose(normalized_score([3234.3, -20.272305], ref), [100.0, 0.0])
    assert float(normalized_score(55.0, (5.0, 105.0))) == pytest.approx(50.0)


def test_equal_reference_scores_are_refused():
    with pytest.raises(ValueError, match="reference scores must differ"):
        normalized_score(1.0, (3.0, 3.0))
