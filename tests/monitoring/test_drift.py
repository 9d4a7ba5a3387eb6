"""Drift measures: PSI by hand and at its edges, MMD near zero for one distribution and large for two."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tuneforge.monitoring.drift import median_bandwidth, mmd, psi, shares


def test_psi_by_hand_and_at_its_edges():
    assert psi([0.5, 0.5], [0.5, 0.5]) == pytest.approx(0.0)
    expected = (0.9 - 0.5) * math.log(0.9 / 0.5) + (0.1 - 0.5) * math.log(0.1 / 0.5)
    assert psi([0.5, 0.5], [0.9, 0.1]) == pytest.approx(expected)
    assert 0.25 < psi([0.5, 0.5], [0.0, 1.0]) < 20  # an empty bin is floored, not infinite
    assert shares([0.05, 0.15, 0.95, 1.0, 2.0], [0.0, 0.1, 0.5, 1.0]) == pytest.approx([0.2, 0.2, 0.6])


def test_mmd_separates_two_distributions_and_not_one():
    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 1, (200, 8)), rng.normal(0, 1, (200, 8))
    shifted = rng.normal(1.0, 1, (200, 8))
    bandwidth = median_bandwidth(a)
    same, different = mmd(a, b, bandwidth), mmd(a, shifted, bandwidth)
    assert abs(same) < 0.01 and different > 10 * max(abs(same), 1e-3)
    assert mmd(a[:1], b, bandwidth) == 0.0
