"""Learning curves as inline SVG drawn on the server (no chart library, no script): one series or several
runs' series overlaid on shared axes.

Example:
    >>> svg = line_chart({"demo: loss": [(10, 1.7), (20, 1.2)]}, "training loss")
    >>> svg.startswith("<svg")
    True
"""

from __future__ import annotations

import math

from markupsafe import Markup, escape

COLOURS = ("#0b62a4", "#d1495b", "#2a9d8f", "#e9a03b", "#6a4c93", "#555555", "#8ab17d", "#c06c84")
WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 28, 36


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    if high <= low:
        return [low]
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.ceil(low / step) * step
    return [first + i * step for i in range(int((high - first) / step) + 1)]


def _label(value: float, step: float) -> str:
    """A tick label with as many decimals as the tick step needs (0.6925, 0.6930, ... not 0.693 five times)."""
    if abs(value) >= 1e5 or step <= 0:
        return f"{value:.3g}"
    decimals = max(0, -math.floor(math.log10(step)))
    if abs(round(step * 10 ** decimals) - step * 10 ** decimals) > 1e-9:
        decimals += 1
    return f"{value:.{min(decimals, 8)}f}"


def line_chart(series: dict[str, list[tuple[float, float]]], title: str) -> Markup:
    """An SVG chart with one polyline per series (step on x), axes with ticks, and a legend; empty when
    there is nothing to draw. Names and the title are escaped."""
    points = [(x, y) for values in series.values() for x, y in values if math.isfinite(x) and math.isfinite(y)]
    if not points:
        return Markup("")
    x_low, x_high = min(p[0] for p in points), max(p[0] for p in points)
    y_low, y_high = min(p[1] for p in points), max(p[1] for p in points)
    if x_high == x_low:
        x_high = x_low + 1
    if y_high == y_low:
        y_low, y_high = y_low - 0.5, y_high + 0.5
    span_x, span_y = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def at(x: float, y: float) -> str:
        return f"{LEFT + (x - x_low) / (x_high - x_low) * span_x:.1f},{TOP + (1 - (y - y_low) / (y_high - y_low)) * span_y:.1f}"

    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT + 18 * ((len(series) + 1) // 2)}" '
             f'role="img" aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
             f'<text x="{LEFT}" y="16" class="chart-title">{escape(title)}</text>',
             f'<line x1="{LEFT}" y1="{TOP + span_y}" x2="{LEFT + span_x}" y2="{TOP + span_y}" stroke="#999"/>',
             f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + span_y}" stroke="#999"/>']
    y_ticks, x_ticks = _ticks(y_low, y_high), _ticks(x_low, x_high)
    y_step = y_ticks[1] - y_ticks[0] if len(y_ticks) > 1 else 0.0
    x_step = x_ticks[1] - x_ticks[0] if len(x_ticks) > 1 else 0.0
    for tick in y_ticks:
        y = TOP + (1 - (tick - y_low) / (y_high - y_low)) * span_y
        parts.append(f'<line x1="{LEFT - 4}" y1="{y:.1f}" x2="{LEFT + span_x}" y2="{y:.1f}" stroke="#eee"/>'
                     f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" class="tick">{_label(tick, y_step)}</text>')
    for tick in x_ticks:
        x = LEFT + (tick - x_low) / (x_high - x_low) * span_x
        parts.append(f'<text x="{x:.1f}" y="{TOP + span_y + 16}" text-anchor="middle" class="tick">{_label(tick, x_step)}</text>')
    parts.append(f'<text x="{LEFT + span_x}" y="{TOP + span_y + 30}" text-anchor="end" class="tick">step</text>')
    for number, (name, values) in enumerate(series.items()):
        colour = COLOURS[number % len(COLOURS)]
        finite = [(x, y) for x, y in values if math.isfinite(x) and math.isfinite(y)]
        if len(finite) == 1:
            x, y = at(*finite[0]).split(",")
            parts.append(f'<circle cx="{x}" cy="{y}" r="3" fill="{colour}"/>')
        elif finite:
            parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" '
                         f'points="{" ".join(at(x, y) for x, y in finite)}"/>')
        lx, ly = LEFT + (number % 2) * (span_x // 2), HEIGHT + 4 + 18 * (number // 2)
        parts.append(f'<rect x="{lx}" y="{ly}" width="12" height="4" fill="{colour}"/>'
                     f'<text x="{lx + 18}" y="{ly + 6}" class="legend">{escape(name)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def overlaid(runs: dict[str, dict[str, list[tuple[float, float]]]]) -> list[Markup]:
    """One chart per series name found in any run (loss, eval_loss, eval_accuracy, ...), each run a line."""
    names: list[str] = []
    for series in runs.values():
        names.extend(n for n in series if n not in names)
    preferred = sorted(names, key=lambda n: (n != "loss", n != "eval_loss", n))
    return [line_chart({run: series[name] for run, series in runs.items() if name in series}, name)
            for name in preferred]
