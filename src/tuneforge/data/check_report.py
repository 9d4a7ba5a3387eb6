"""Write a data check report (``data/check.py``) as ``data_report.json``, ``.md`` and a self-contained
``.html`` (inline CSS, nothing loaded from the network)."""

from __future__ import annotations

import json
from html import escape
from pathlib import Path
from typing import Any

from ..fileops import atomic_write_text

PRIVATE = ("ranked", "flagged_indexes", "suggested")  # in memory for --fix; too long for the files
_MAX_TEXT = 300


def _short(text: Any) -> str:
    text = str(text if text is not None else "")
    return text if len(text) <= _MAX_TEXT else text[:_MAX_TEXT] + "…"


def public(report: dict[str, Any]) -> dict[str, Any]:
    """The report without the per-example lists kept for ``--fix``."""
    out = dict(report)
    if "label_errors" in out:
        out["label_errors"] = {k: v for k, v in out["label_errors"].items() if k not in PRIVATE}
    if "duplicates" in out:
        out["duplicates"] = {k: v for k, v in out["duplicates"].items() if k != "removable"}
    return out


def _split_rows(report: dict[str, Any]) -> list[list[str]]:
    rows = []
    for name, s in report["splits"].items():
        lengths = s.get("token_lengths") or s.get("generation_lengths") or {}
        labels = s.get("labels") or {}
        label_text = {"single": lambda: f"{len(labels['counts'])} labels",
                      "multi": lambda: f"{len(labels['counts'])} labels (multi-label)",
                      "numeric": lambda: f"{labels['min']:g} to {labels['max']:g}"}.get(labels.get("kind"), lambda: "")()
        p95 = lengths.get("p95", lengths.get("prompt_tokens", {}).get("p95", ""))
        cut = f"{lengths['truncated_share']:.1%}" if lengths else ""
        rows.append([name, f"{s['examples']:,}", label_text, str(p95), cut,
                     ", ".join(f"{k} {v}" for k, v in list((s.get("scripts") or {}).get("dominant", {}).items())[:3])])
    return rows


SPLIT_HEADER = ["split", "examples", "labels", "p95 tokens", "cut at max_length", "scripts"]


def to_markdown(report: dict[str, Any]) -> str:
    """The report as Markdown."""
    lines = [f"# Data check: {report.get('source', '')}", ""]
    summary = report["summary"]
    lines.append(f"{summary['errors']} error(s), {summary['warnings']} warning(s), {summary['infos']} note(s).")
    lines.append("")
    for f in report["findings"]:
        lines.append(f"- **{f['severity']}** ({f['section']}): {f['message']}")
    lines += ["", "## Splits", "", "| " + " | ".join(SPLIT_HEADER) + " |", "|" + "---|" * len(SPLIT_HEADER)]
    lines += ["| " + " | ".join(row) + " |" for row in _split_rows(report)]
    for name, s in report["splits"].items():
        labels = s.get("labels") or {}
        if labels.get("counts"):
            lines += ["", f"### Labels in {name}", "", "| label | examples |", "|---|---|"]
            lines += [f"| {label} | {n:,} |" for label, n in list(labels["counts"].items())[:50]]
        if s.get("entities"):
            lines += ["", f"### Entities in {name}", "",
                      ", ".join(f"{t} {n:,}" for t, n in s["entities"]["entity_types"].items()),
                      f"I- tags that do not continue an entity: {s['entities']['errors']}"]
    leaks = report.get("duplicates", {}).get("leaked", {})
    for name, leak in leaks.items():
        if leak["count"]:
            lines += ["", f"## {name} examples also in training ({leak['count']})", "",
                      f"| {name} | training | kind |", "|---|---|---|"]
            lines += [f"| {item[name]['where']}: {_md(item[name]['text'])} | {item['train']['where']} | "
                      f"{item['kind']} ({item['similarity']:.2f}) |" for item in leak["items"][:100]]
    errors = report.get("label_errors")
    if errors and "suspects" in errors:
        lines += ["", f"## Likely label errors ({errors['flagged']:,} flagged)", "",
                  f"Cross-validated model accuracy against the given labels: {errors['cross_validated_accuracy']:.4f}; "
                  f"seconds: {errors['seconds']}.", "", "| where | text | given | suggested | quality |",
                  "|---|---|---|---|---|"]
        lines += [f"| {s['where']} | {_md(s['text'])} | {s['given']} | {s['suggested']} | {s['quality']:.3f} |"
                  for s in errors["suspects"]]
    elif errors:
        lines += ["", "## Likely label errors", "", f"Not searched: {errors['skipped']}"]
    return "\n".join(lines) + "\n"


def _md(text: Any) -> str:
    return _short(text).replace("|", "\\|").replace("\n", " ")


def _table(header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{escape(_short(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def to_html(report: dict[str, Any]) -> str:
    """The report as one self-contained HTML page."""
    from ..evaluation.html_report import _CSS

    colour = {"error": "#cf222e", "warning": "#9a6700", "info": "#5f6b7a"}
    findings = "".join(f"<li><b style='color:{colour[f['severity']]}'>{f['severity']}</b> ({escape(f['section'])}): "
                       f"{escape(f['message'])}</li>" for f in report["findings"]) or "<li>nothing found</li>"
    parts = [f"<section id='findings'><h2>Findings</h2><ul>{findings}</ul></section>",
             f"<section id='splits'><h2>Splits</h2>{_table(SPLIT_HEADER, _split_rows(report))}"]
    for name, s in report["splits"].items():
        labels = s.get("labels") or {}
        if labels.get("counts"):
            parts.append(f"<h3>Labels in {escape(name)}</h3>"
                         + _table(["label", "examples"], [[k, f"{v:,}"] for k, v in list(labels["counts"].items())[:50]]))
        if s.get("entities"):
            parts.append(f"<h3>Entities in {escape(name)}</h3>"
                         + _table(["type", "entities"], [[k, f"{v:,}"] for k, v in s["entities"]["entity_types"].items()])
                         + f"<p class='note'>I- tags that do not continue an entity: {s['entities']['errors']}</p>")
    parts.append("</section>")
    duplicates = report.get("duplicates", {})
    rows = []
    for name, leak in duplicates.get("leaked", {}).items():
        rows += [[name, item[name]["where"], item[name]["text"], item["train"]["where"],
                  f"{item['kind']} ({item['similarity']:.2f})"] for item in leak["items"][:100]]
    within = [[name, w["groups"], w["extra_copies"], w["exact"], w["near"]] for name, w in duplicates.get("within", {}).items()]
    parts.append("<section id='duplicates'><h2>Duplicates and leakage</h2>"
                 + _table(["split", "groups", "extra copies", "exact groups", "near groups"], within)
                 + (_table(["split", "where", "text", "also in training at", "kind"], rows) if rows else
                    "<p class='note'>No evaluation example also appears in training.</p>") + "</section>")
    errors = report.get("label_errors")
    if errors and "suspects" in errors:
        parts.append(f"<section id='label-errors'><h2>Likely label errors ({errors['flagged']:,} flagged)</h2>"
                     f"<p class='note'>Cross-validated accuracy {errors['cross_validated_accuracy']:.4f}; "
                     f"seconds {escape(str(errors['seconds']))}.</p>"
                     + _table(["where", "text", "given", "suggested", "quality"],
                              [[s["where"], s["text"], s["given"], s["suggested"], f"{s['quality']:.3f}"]
                               for s in errors["suspects"]]) + "</section>")
    elif errors:
        parts.append(f"<section id='label-errors'><h2>Likely label errors</h2><p class='note'>Not searched: "
                     f"{escape(errors['skipped'])}</p></section>")
    summary = report["summary"]
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Data check</title>"
            f"<style>{_CSS}</style></head><body><main><h1>Data check</h1><p class='note'>"
            f"{escape(str(report.get('source', '')))}: {summary['errors']} error(s), {summary['warnings']} warning(s), "
            f"{summary['infos']} note(s)</p>{''.join(parts)}</main></body></html>\n")


def write_report(report: dict[str, Any], folder: str | Path) -> Path:
    """Write ``data_report.json``, ``.md`` and ``.html`` into ``folder``; returns the HTML path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    shown = public(report)
    atomic_write_text(folder / "data_report.json", json.dumps(shown, indent=2, ensure_ascii=False, default=str))
    atomic_write_text(folder / "data_report.md", to_markdown(shown))
    atomic_write_text(folder / "data_report.html", to_html(shown))
    return folder / "data_report.html"
