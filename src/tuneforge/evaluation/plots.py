"""Figures for the HTML report, each returned as a ``data:image/png;base64,...`` URI.

matplotlib is imported inside each function (with the non-interactive Agg backend),
so importing this module costs nothing and works without a display. Every figure is
closed after rendering so long evaluation jobs do not pile up open figures.
"""

from __future__ import annotations

import base64
import io
from typing import Any

EVAL_NON_METRICS = ("eval_loss", "eval_runtime", "eval_samples_per_second", "eval_steps_per_second", "eval_epoch")
_MAX_TICK_LABEL = 18


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _data_uri(fig, plt) -> str:
    """Render ``fig`` as PNG (no metadata, so no URLs inside) and close it."""
    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    finally:
        plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _short(label: str) -> str:
    """Long labels keep their start and end (labels often differ only in a suffix)."""
    label = str(label)
    if len(label) <= _MAX_TICK_LABEL:
        return label
    head = (_MAX_TICK_LABEL - 1) // 2
    return label[:head] + "…" + label[-(_MAX_TICK_LABEL - 1 - head):]


def confusion_matrix_png(labels: list[str], matrix: list[list[int]]) -> str:
    """A confusion-matrix heatmap (rows: true, columns: predicted) with the count in every cell.

    Cells are coloured by the share of their true class (row-normalised), so a rare
    class's errors are as visible as a common one's; the numbers are raw counts. The
    figure grows with the label count and stays readable up to about 20 labels.

    Example:
        >>> uri = confusion_matrix_png(["neg", "pos"], [[5, 1], [2, 7]])
        >>> uri.startswith("data:image/png;base64,")
        True
    """
    import numpy as np

    plt = _pyplot()
    counts = np.asarray(matrix, dtype=float)  # (true, predicted)
    n = len(labels)
    row_sums = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, row_sums, out=np.zeros_like(counts), where=row_sums > 0)
    side = min(12.0, max(4.2, 0.5 * n + 2.4))
    font = 10 if n <= 8 else 8 if n <= 14 else 6.5
    fig, ax = plt.subplots(figsize=(side + 1.0, side))
    image = ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
    colorbar = fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    colorbar.set_label("share of the true class")
    ticks = list(range(n))
    ax.set_xticks(ticks, [_short(x) for x in labels], rotation=45, ha="right", rotation_mode="anchor", fontsize=font)
    ax.set_yticks(ticks, [_short(x) for x in labels], fontsize=font)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("Confusion matrix")
    for i in range(n):
        for j in range(n):
            value = int(counts[i, j])
            if value == 0 and n > 10:
                continue
            ax.text(j, i, str(value), ha="center", va="center", fontsize=font,
                    color="white" if share[i, j] > 0.55 else "#1b1b1b")
    fig.tight_layout()
    return _data_uri(fig, plt)


def reliability_png(result: dict[str, Any], xlabel: str = "confidence", ylabel: str = "accuracy") -> str:
    """A reliability diagram from ``calibration()``: accuracy per confidence bin against the diagonal.

    The top panel shows each bin's accuracy as a bar (with the bin's mean confidence as
    a dot) and the dashed line of perfect calibration; the bottom panel shows how many
    predictions fall in each bin, since a bin of three predictions says little. The
    title carries the ECE.

    Example:
        >>> from tuneforge.evaluation.calibration import calibration
        >>> reliability_png(calibration([0.9, 0.6], [True, False])).startswith("data:image/png")
        True
    """
    plt = _pyplot()
    edges = result["edges"]
    width = edges[1] - edges[0]
    centers = [lo + width / 2 for lo in edges[:-1]]
    filled = [i for i, c in enumerate(result["count"]) if c > 0]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(5.6, 5.6), sharex=True,
                                      gridspec_kw={"height_ratios": [3, 1], "hspace": 0.08})
    top.plot([0, 1], [0, 1], linestyle="--", color="#555555", zorder=4, label="perfectly calibrated")
    top.bar([centers[i] for i in filled], [result["accuracy"][i] for i in filled], width=width * 0.92,
            color="#4c72b0", alpha=0.85, edgecolor="#2b4a7a", label=ylabel)
    top.scatter([result["confidence"][i] for i in filled], [result["accuracy"][i] for i in filled],
                color="#dd8452", zorder=3, s=18, label="bin mean " + xlabel)
    top.set_xlim(0, 1)
    top.set_ylim(0, 1.02)
    top.set_ylabel(ylabel)
    top.set_title(f"Reliability diagram (ECE = {result['ece']:.4f}, n = {result['n']})")
    top.legend(loc="upper left", fontsize=8, frameon=False)
    top.grid(alpha=0.3)
    bottom.bar(centers, result["count"], width=width * 0.92, color="#8c8c8c")
    bottom.set_xlabel(xlabel)
    bottom.set_ylabel("count")
    bottom.grid(alpha=0.3)
    return _data_uri(fig, plt)


def curve_series(log_history: list[dict[str, Any]]) -> dict[str, list[tuple[float, float]]]:
    """(step, value) series from a Trainer ``log_history``: train loss, eval loss and each eval metric.

    Training rows carry ``loss``; evaluation rows carry ``eval_loss`` and ``eval_<metric>``.
    Timing keys (runtime, samples or steps per second) and the epoch are not metrics and
    are skipped, as is the run summary row (``train_loss``, no ``loss``).

    Example:
        >>> curve_series([{"loss": 0.7, "step": 10}, {"eval_loss": 0.6, "eval_accuracy": 0.8, "step": 10}])
        {'loss': [(10, 0.7)], 'eval_loss': [(10, 0.6)], 'eval_accuracy': [(10, 0.8)]}
    """
    series: dict[str, list[tuple[float, float]]] = {}
    for row in log_history or []:
        step = row.get("step")
        if step is None:
            continue
        for key, value in row.items():
            wanted = key in ("loss", "eval_loss") or (key.startswith("eval_") and key not in EVAL_NON_METRICS)
            if wanted and isinstance(value, (int, float)) and not isinstance(value, bool):
                series.setdefault(key, []).append((step, value))
    return series


SPARSE = 20  # series with at most this many points get a marker on each (a single point draws no line)


def loss_curves_png(log_history: list[dict[str, Any]], best_step: int | None = None) -> str | None:
    """Training and validation loss against step, with validation metrics in a second panel;
    ``best_step`` (the checkpoint restored at the end) is marked by a dotted line on both.

    Returns ``None`` when the history holds no losses (evaluation-only runs, methods
    trained without gradients), so callers can leave the plot out.

    Example:
        >>> history = [{"loss": 0.9, "step": 10}, {"eval_loss": 0.7, "eval_accuracy": 0.6, "step": 10}]
        >>> loss_curves_png(history).startswith("data:image/png;base64,")
        True
    """
    drawn = loss_curves_figure(log_history, best_step)
    return None if drawn is None else _data_uri(*drawn)


def loss_curves_figure(log_history: list[dict[str, Any]], best_step: int | None = None):
    """The figure ``loss_curves_png`` renders, and pyplot (None without losses)."""
    series = curve_series(log_history)
    losses = {k: v for k, v in series.items() if k in ("loss", "eval_loss")}
    if not losses:
        return None
    metrics = {k: v for k, v in series.items() if k not in losses}
    plt = _pyplot()
    panels = 2 if metrics else 1
    fig, axes = plt.subplots(1, panels, figsize=(5.4 * panels, 3.8), squeeze=False)
    loss_ax = axes[0][0]
    styles = {"loss": ("training loss", "#4c72b0", None), "eval_loss": ("validation loss", "#dd8452", "o")}
    for key, points in losses.items():
        label, color, marker = styles[key]
        steps, values = zip(*points)
        marker = marker or ("." if len(points) <= SPARSE else None)
        loss_ax.plot(steps, values, label=label, color=color, marker=marker, markersize=4 if marker == "o" else 6)
    if best_step is not None:
        loss_ax.axvline(best_step, color="#2ca02c", linestyle=":", linewidth=1.5,
                        label=f"best checkpoint (step {best_step}), restored")
    loss_ax.set_xlabel("step")
    loss_ax.set_ylabel("loss")
    loss_ax.set_title("Loss")
    loss_ax.grid(alpha=0.3)
    loss_ax.legend(fontsize=8, frameon=False)
    if metrics:
        metric_ax = axes[0][1]
        merged: dict[tuple, list[str]] = {}  # identical series (accuracy and micro F1 often are) share a line
        for key, points in metrics.items():
            merged.setdefault(tuple(points), []).append(key[len("eval_"):])
        for points, names in merged.items():
            steps, values = zip(*points)
            metric_ax.plot(steps, values, marker="o", markersize=4, label=" = ".join(names))
        if best_step is not None:
            metric_ax.axvline(best_step, color="#2ca02c", linestyle=":", linewidth=1.5)
        metric_ax.set_xlabel("step")
        metric_ax.set_ylabel("value")
        metric_ax.set_title("Validation metrics")
        metric_ax.grid(alpha=0.3)
        metric_ax.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    return fig, plt
