"""plot_validation_curves: one line per seed, optional mean over the seeds that still run, labels."""

from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from mlcompanion.convergence_report import plot_validation_curves  # noqa: E402


def _results():
    run = SimpleNamespace
    return {("a", 0): run(curve=[(10, 0.1), (20, 0.3), (30, 0.4)]),
            ("a", 1): run(curve=[(10, 0.3), (20, 0.5)]),
            ("b", 0): run(curve=[(10, 0.2), (20, 0.2), (30, 0.2)]),
            ("b", 1): run(curve=[(10, 0.4), (20, 0.4), (30, 0.4)])}


def test_mean_is_over_the_iterations_every_seed_reached():
    fig, ax = plt.subplots()
    plot_validation_curves(ax, _results(), ["a", "b"], [0, 1], {"a": "C0", "b": "C1"},
                           labels={"a": "arm A"}, mean=True)
    by_label = {line.get_label(): line for line in ax.get_lines()}
    np.testing.assert_allclose(by_label["arm A"].get_ydata(), [0.2, 0.4])  # only 2 shared points
    np.testing.assert_allclose(by_label["b"].get_ydata(), [0.3, 0.3, 0.3])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["arm A", "b"]
    plt.close(fig)


def test_default_draws_seeds_only_and_mean_needs_a_shared_grid():
    fig, ax = plt.subplots()
    plot_validation_curves(ax, _results(), ["a", "b"], [0, 1], {"a": "C0", "b": "C1"})
    assert len(ax.get_lines()) == 4
    bad = _results()
    bad[("b", 1)].curve = [(15, 0.4), (25, 0.4)]
    with pytest.raises(ValueError, match="same iterations"):
        plot_validation_curves(ax, bad, ["b"], [0, 1], {"b": "C1"}, mean=True)
    plt.close(fig)
