"""Drift measures between a reference profile and recent traffic: the population stability index of
a categorical or binned distribution, and the maximum mean discrepancy between two embedding samples.

PSI reads: below 0.1 no shift, 0.1-0.25 a moderate one, above 0.25 a significant one.

Example:
    >>> psi([0.5, 0.5], [0.9, 0.1]) > 0.25
    True
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

FLOOR = 1e-4  # empty bins would make the index infinite


def shares(values: Sequence[float], edges: Sequence[float]) -> list[float]:
    """The share of ``values`` in each bin ``[edges[i], edges[i+1])`` (the last bin is closed)."""
    counts, _ = np.histogram(np.clip(np.asarray(values, dtype=float), edges[0], edges[-1]), bins=np.asarray(edges))
    total = counts.sum()
    return (counts / total).tolist() if total else [0.0] * (len(edges) - 1)


def psi(expected: Sequence[float], actual: Sequence[float]) -> float:
    """Population stability index of ``actual`` shares against ``expected`` shares (same bins)."""
    e = np.maximum(np.asarray(expected, dtype=float), FLOOR)
    a = np.maximum(np.asarray(actual, dtype=float), FLOOR)
    e, a = e / e.sum(), a / a.sum()
    return float(np.sum((a - e) * np.log(a / e)))


def median_bandwidth(sample: np.ndarray) -> float:
    """The median pairwise distance of ``sample``: the RBF kernel's bandwidth (the median heuristic)."""
    from scipy.spatial.distance import pdist

    distances = pdist(np.asarray(sample, dtype=np.float64)) if len(sample) > 1 else np.empty(0)
    return float(np.median(distances)) if distances.size else 1.0


def rbf_kernel(a: np.ndarray, b: np.ndarray, bandwidth: float) -> np.ndarray:
    """The RBF kernel matrix ``exp(-|a_i - b_j|^2 / (2 bandwidth^2))``."""
    from scipy.spatial.distance import cdist

    return np.exp(-cdist(a, b, "sqeuclidean") / (2 * bandwidth ** 2))


def mmd(x: np.ndarray, y: np.ndarray, bandwidth: float) -> float:
    """Squared maximum mean discrepancy (unbiased) between samples ``x`` and ``y`` with an RBF kernel."""
    n, m = len(x), len(y)
    if n < 2 or m < 2:
        return 0.0
    kxx, kyy, kxy = rbf_kernel(x, x, bandwidth), rbf_kernel(y, y, bandwidth), rbf_kernel(x, y, bandwidth)
    return float((kxx.sum() - np.trace(kxx)) / (n * (n - 1)) + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
                 - 2 * kxy.mean())
