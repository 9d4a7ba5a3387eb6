"""The method comparison written three ways: comparison.json, comparison.md and a self-contained comparison.html
with the Pareto plot (score against training time, latency and bundle size)."""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import Any

from ..evaluation.report import markdown_table


def pareto_front(rows: list[dict[str, Any]], cost: str) -> set[str]:
    """Methods no other method beats on both score (higher) and ``cost`` (lower)."""
    front = set()
    for row in rows:
        dominated = any(
            other is not row and other["score"] >= row["score"] and other[cost] <= row[cost]
            and (other["score"] > row["score"] or other[cost] < row[cost])
            for other in rows
        )
        if not dominated:
            front.add(row["method"])
    return front


COSTS = (("train_seconds", "training time (s)"), ("ms_per_text_b1", "latency, one example (ms)"),
         ("bundle_mb", "bundle size (MB)"))


def pareto_png(rows: list[dict[str, Any]], recommended: str | None, metric: str) -> bytes:
    """Three panels, score against each cost; the Pareto front joined by a line, the recommendation starred."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = [r for r in rows if r.get("error") is None]
    figure, axes = plt.subplots(1, len(COSTS), figsize=(15, 4.6))
    for ax, (cost, label) in zip(axes, COSTS):
        front = pareto_front(done, cost)
        for row in done:
            on_front = row["method"] in front
            ax.scatter(row[cost], row["score"], s=160 if row["method"] == recommended else 60,
                       marker="*" if row["method"] == recommended else "o",
                       color="#d62728" if row["method"] == recommended else ("#1f77b4" if on_front else "#9e9e9e"),
                       zorder=3)
            ax.annotate(row["method"], (row[cost], row["score"]), textcoords="offset points", xytext=(6, 4), fontsize=9)
        line = sorted((r for r in done if r["method"] in front), key=lambda r: r[cost])
        ax.plot([r[cost] for r in line], [r["score"] for r in line], color="#1f77b4", linewidth=1, zorder=2)
        if cost != "train_seconds" and done and max(r[cost] for r in done) / max(min(r[cost] for r in done), 1e-9) > 20:
            ax.set_xscale("log")
        ax.set_xlabel(f"{label} (lower is better)")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
    figure.suptitle("Score against cost: blue = Pareto front, red star = recommended")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    return buffer.getvalue()


def _cells(row: dict[str, Any]) -> list[str]:
    if row.get("error"):
        return [row["method"], "failed", "", "", "", "", "", ""]
    return [row["method"], f"{row['score']:.4f}", f"{row['trainable_parameters']:,}", f"{row['trainable_percent']:.2f}%",
            f"{row['train_seconds']:.0f}", f"{row['ms_per_text_b1']:.1f}", f"{row['texts_per_s_b32']:.0f}",
            f"{row['bundle_mb']:.1f}"]


HEADER = ["method", "score", "trainable", "trainable %", "training s", "ms/example (1)", "examples/s (32)", "bundle MB"]


def comparison_markdown(rows, recommended, reason, metric: str, budget: float, wall: float) -> str:
    """The comparison as a markdown table plus the recommendation."""
    lines = [f"# Method comparison ({metric}; budget {budget / 60:.0f} min, used {wall / 60:.1f} min)", "",
             markdown_table(HEADER, [_cells(row) for row in rows])]
    failed = [r for r in rows if r.get("error")]
    lines += ["", f"**Recommended: {recommended}**. {reason}.", ""]
    lines += [f"- {r['method']} failed: {r['error']}" for r in failed]
    lines += ["", "![Pareto plot](pareto.png)", ""]
    return "\n".join(lines)


def comparison_html(rows, recommended, reason, metric: str, budget: float, wall: float, png: bytes) -> str:
    """One self-contained HTML page: table, recommendation, Pareto plot (embedded)."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in HEADER)
    body = "".join(
        f"<tr{' class=rec' if r['method'] == recommended else ''}>"
        + "".join(f"<td>{html.escape(c)}</td>" for c in _cells(r)) + "</tr>" for r in rows)
    failed = "".join(f"<li>{html.escape(r['method'])}: {html.escape(r['error'])}</li>" for r in rows if r.get("error"))
    image = base64.b64encode(png).decode("ascii")
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>TuneForge method comparison</title>
<style>body{{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;color:#222}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 10px;text-align:right}}
td:first-child,th:first-child{{text-align:left}}tr:nth-child(even){{background:#f6f6f6}}tr.rec{{background:#fde8e8;font-weight:600}}
.rec-box{{background:#eef6ee;border-left:4px solid #2e7d32;padding:.8em 1em;margin:1em 0}}img{{max-width:100%}}</style></head><body>
<h1>Method comparison</h1>
<p>Metric: {html.escape(metric)}. Budget {budget / 60:.0f} min, used {wall / 60:.1f} min.</p>
<section id="table"><table><tr>{head}</tr>{body}</table>{f'<ul>{failed}</ul>' if failed else ''}</section>
<section id="recommendation" class="rec-box"><strong>Recommended: {html.escape(str(recommended))}</strong>. {html.escape(reason)}.</section>
<section id="pareto"><img alt="Pareto plot" src="data:image/png;base64,{image}"></section>
</body></html>"""


def write_comparison(out_dir: Path, rows, recommended, reason, metric: str, budget: float, wall: float) -> None:
    """Write comparison.json, comparison.md, pareto.png and comparison.html into ``out_dir``."""
    png = pareto_png(rows, recommended, metric)
    (out_dir / "pareto.png").write_bytes(png)
    (out_dir / "comparison.json").write_text(json.dumps(
        {"metric": metric, "budget_seconds": budget, "wall_seconds": round(wall, 1), "recommended": recommended,
         "reason": reason, "rows": rows}, indent=2), encoding="utf-8")
    (out_dir / "comparison.md").write_text(comparison_markdown(rows, recommended, reason, metric, budget, wall),
                                           encoding="utf-8")
    (out_dir / "comparison.html").write_text(comparison_html(rows, recommended, reason, metric, budget, wall, png),
                                             encoding="utf-8")
