"""Figures: what the curves figure draws."""

import numpy as np

from hybridrl.analysis import plots


def test_curves_draw_a_band_per_curve_and_a_dashed_level_per_level():
    steps = np.array([0, 10, 20])
    curves = {"HNPG": (steps, np.array([0.0, 0.5, 1.0]), np.array([0.0, 0.4, 0.9]), np.array([0.0, 0.6, 1.0]))}
    fig = plots.curves(curves, "lock", "success rate", plots.colors(["HNPG", "BC"]), xlabel="environment steps",
                       levels={"BC": 0.99})
    ax = fig.axes[0]
    assert ax.get_xlabel() == "environment steps"
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert set(lines) == {"HNPG", "BC"}
    np.testing.assert_array_equal(lines["HNPG"].get_ydata(), [0.0, 0.5, 1.0])
    assert lines["BC"].get_linestyle() == "--" and list(lines["BC"].get_ydata()) == [0.99, 0.99]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["HNPG", "BC"]
    assert plots.curves(curves, "t", "y", plots.colors(["HNPG"])).axes[0].get_xlabel() == "training step"
