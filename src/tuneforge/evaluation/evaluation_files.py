"""The files ``tuneforge evaluate --output DIR`` writes: ``metrics.json``, ``report.md`` and
``report.html`` (with the robustness section when it was measured)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def write_evaluation(output, metrics: dict[str, Any], title: str, context: dict[str, Any], examples, predictions,
                     task) -> None:
    """``metrics.json``, ``report.md`` and ``report.html`` of an evaluation, in the folder ``output``."""
    from .html_report import write_html_report
    from .report import render_markdown
    from .robustness import robustness_markdown

    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2), encoding="utf-8")
    markdown = render_markdown(metrics, title, context, task)
    if metrics.get("robustness"):
        markdown += "\n" + "\n".join(robustness_markdown(metrics["robustness"]))
    (out / "report.md").write_text(markdown, encoding="utf-8")
    write_html_report(out / "report.html", metrics, title, context, examples, predictions, task=task)
