"""Reports of evaluation metrics: markdown for files, rich tables for the terminal."""

from __future__ import annotations

from typing import Any

HEADLINE_KEYS = ("accuracy", "macro_f1", "micro_f1", "f1", "precision", "recall", "token_accuracy")


def headline(metrics: dict[str, Any]) -> dict[str, float]:
    """The scalar metrics (no tables, not the count ``n``): the usual ones first, then any other a task adds."""
    first = {k: metrics[k] for k in HEADLINE_KEYS if k in metrics}
    return {**first, **{k: v for k, v in metrics.items() if k not in first and k != "n"
                        and isinstance(v, (int, float)) and not isinstance(v, bool)}}


def _fmt(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def markdown_table(header: list[str], rows: list[list[Any]], right: tuple[int, ...] = ()) -> str:
    """A markdown table: floats with 4 decimals, other cells as text; columns in ``right`` right-aligned.

    The one table helper of every markdown TuneForge writes (reports, trials, comparisons, compression).

    Example:
        >>> print(markdown_table(["metric", "value"], [["accuracy", 0.91]], right=(1,)))
        | metric | value |
        |---|---:|
        | accuracy | 0.9100 |
    """
    rule = "|" + "".join("---:|" if i in right else "---|" for i in range(len(header)))
    lines = ["| " + " | ".join(header) + " |", rule]
    lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


_table = markdown_table


def render_markdown(metrics: dict[str, Any], title: str, context: dict[str, Any] | None = None, task=None) -> str:
    """A markdown report: context, headline metrics vs the baseline, then the task's parts
    (``Task.markdown_sections``: per-class table, confusion, ...).

    Example:
        >>> print(render_markdown(metrics, "SST-2 dev"))
    """
    parts = [f"# {title}", ""]
    for key, value in (context or {}).items():
        parts.append(f"- **{key}**: {value}")
    if context:
        parts.append("")
    base = metrics.get("baseline", {})
    rows = [[k, v, base.get(k, "")] for k, v in headline(metrics).items()]
    parts += [f"## Metrics ({metrics.get('n', '?')} examples)", "",
              _table(["metric", "model", f"baseline ({base.get('name', 'n/a')})"], rows), ""]
    parts += task.markdown_sections(metrics) if task is not None else per_class_markdown(metrics)
    return "\n".join(parts)


def per_class_markdown(metrics: dict[str, Any], title: str = "Per class") -> list[str]:
    """Markdown parts for the per-class table, the confusion matrix and per-label confusion, where present."""
    parts: list[str] = []
    per_class = metrics.get("per_class") or {}
    if per_class:
        parts += [f"## {title}", "", _table(
            ["label", "precision", "recall", "f1", "support"],
            [[name, v["precision"], v["recall"], v["f1"], v["support"]] for name, v in per_class.items()],
        ), ""]
    confusion = metrics.get("confusion_matrix")
    if confusion:
        labels = confusion["labels"]
        parts += ["## Confusion matrix (rows: true, columns: predicted)", "", _table(
            ["true \\ predicted", *labels], [[name, *row] for name, row in zip(labels, confusion["matrix"])]
        ), ""]
    label_confusion = metrics.get("label_confusion")
    if label_confusion:
        parts += ["## Per-label confusion", "", _table(
            ["label", "tp", "fp", "fn", "tn"],
            [[name, c["tp"], c["fp"], c["fn"], c["tn"]] for name, c in label_confusion.items()],
        ), ""]
    return parts


def print_metrics(metrics: dict[str, Any], title: str, console=None, per_class_title: str = "Per class") -> None:
    """Print headline metrics against the baseline, and the per-class table, with rich."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    base = metrics.get("baseline", {})
    table = Table(title=f"{title} ({metrics.get('n', '?')} examples)")
    table.add_column("metric")
    table.add_column("model", justify="right")
    table.add_column(f"baseline: {base.get('name', 'n/a')}", justify="right")
    for key, value in headline(metrics).items():
        table.add_row(key, _fmt(value), _fmt(base[key]) if key in base else "")
    console.print(table)
    per_class = metrics.get("per_class") or {}
    if per_class:
        detail = Table(title=per_class_title.lower())
        for column in ("label", "precision", "recall", "f1", "support"):
            detail.add_column(column, justify="left" if column == "label" else "right")
        for name, v in per_class.items():
            detail.add_row(name, _fmt(v["precision"]), _fmt(v["recall"]), _fmt(v["f1"]), str(v["support"]))
        console.print(detail)


def print_robustness(table: dict[str, Any], console=None) -> None:
    """Print the robustness table (``tuneforge.evaluation.robustness``) and name the weakest perturbation."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    out = Table(title=f"robustness (seed {table['seed']})")
    for column in ("perturbation", table["metric"], "change", "inputs changed", "predictions flipped"):
        out.add_column(column, justify="left" if column == "perturbation" else "right")
    for r in table["rows"]:
        out.add_row(r["perturbation"], _fmt(r["metric"]), _fmt(r["change"]), f"{r['inputs_changed']:.0%}",
                    f"{r['flipped']:.1%}", style="bold red" if r["perturbation"] == table.get("weakest") else None)
    console.print(out)
    if table.get("weakest"):
        console.print(f"weakest: {table['weakest']} (examples in report.md/report.html with --output)")


def print_few_shot(summary: dict[str, Any], console=None) -> None:
    """Print mean ± std over seeds and every seed's value of each headline metric."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    seeds = list(next(iter(summary.values()))["by_seed"]) if summary else []
    table = Table(title=f"few-shot results over {len(seeds)} seeds")
    for column in ("metric", "mean", "std", *[f"seed {s}" for s in seeds]):
        table.add_column(column, justify="left" if column == "metric" else "right")
    for key, row in summary.items():
        table.add_row(key, _fmt(row["mean"]), _fmt(row["std"]), *[_fmt(v) for v in row["by_seed"].values()])
    console.print(table)
