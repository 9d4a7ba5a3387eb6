"""``tuneforge data check --fix``: a cleaned copy of each data file, never touching the original.

Rows are dropped (duplicates after the first, evaluation rows that also appear in training, optionally
the top suspected label errors) or relabelled (the top suspects, to the label the cross-validated model
suggests), and every change is logged (``changes.jsonl``: file, line, action, reason, labels).
CSV, TSV, JSONL and CoNLL files are written in their own format.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

from ..errors import DataError
from ..fileops import atomic_write_text
from .readers import read_jsonl, read_table, read_text

_LINE = re.compile(r" line (\d+)$")


def line_number(example: dict[str, Any]) -> int | None:
    """The file line an example was read from (its ``where``), or None."""
    found = _LINE.search(example.get("where", ""))
    return int(found.group(1)) if found else None


def _line_of(example: dict[str, Any]) -> int:
    line = line_number(example)
    if line is None:
        raise DataError(f"--fix cannot tell which line {example.get('where')!r} came from")
    return line


def planned_changes(report: dict[str, Any], splits: dict[str, list[dict[str, Any]]], drop_suspects: int = 0,
                    relabel_suspects: int = 0) -> dict[str, list[dict[str, Any]]]:
    """Per split: the changes ``--fix`` makes, each ``{"line", "action": drop|relabel, "reason", ...}``."""
    plan: dict[str, dict[int, dict[str, Any]]] = {name: {} for name in splits}
    duplicates = report.get("duplicates", {})
    leaked = {name: {item["index"] for item in leak["items"]} for name, leak in duplicates.get("leaked", {}).items()}
    for name, indexes in duplicates.get("removable", {}).items():
        for i in indexes:
            reason = "also in training" if i in leaked.get(name, set()) else "duplicate of an earlier example"
            plan[name][i] = {"line": _line_of(splits[name][i]), "action": "drop", "reason": reason}
    errors = report.get("label_errors") or {}
    flagged = errors.get("flagged_indexes", [])
    if (drop_suspects or relabel_suspects) and "flagged_indexes" not in errors:
        raise DataError("--drop-suspects/--relabel-suspects need the label-error search, which did not run "
                        f"({errors.get('skipped', 'turned off')})")
    for rank, i in enumerate(flagged[:drop_suspects + relabel_suspects]):
        example = splits["train"][i]
        if i in plan["train"]:
            continue
        if rank < drop_suspects:
            plan["train"][i] = {"line": _line_of(example), "action": "drop", "reason": "suspected label error",
                                "label": example["label"], "suggested": errors["suggested"][i]}
        else:
            plan["train"][i] = {"line": _line_of(example), "action": "relabel", "reason": "suspected label error",
                                "label": example["label"], "new_label": errors["suggested"][i]}
    return {name: [changes[i] for i in sorted(changes)] for name, changes in plan.items()}


def _changed(rows, changes: dict[int, dict[str, Any]], label_column: str, raw_label):
    """The values of each row the plan keeps, relabelled where it says so."""
    for row in rows:
        change = changes.get(row.line)
        if change and change["action"] == "drop":
            continue
        values = dict(row.values)
        if change and change["action"] == "relabel":
            values[label_column] = raw_label(change["new_label"])
        yield values


def records_text(fmt: str, columns: list[str], rows) -> str:
    """Rows (dicts of values) as the text of a CSV, TSV (no quoting, as read) or JSONL file."""
    if fmt == "jsonl":
        return "".join(json.dumps(values, ensure_ascii=False) + "\n" for values in rows)
    out = io.StringIO()
    if fmt == "tsv":  # a cell read from TSV holds no tab or line break
        def write_row(cells):
            out.write("\t".join(map(str, cells)) + "\n")
    else:
        write_row = csv.writer(out, lineterminator="\n").writerow
    write_row(columns)
    for values in rows:
        write_row([values.get(c, "") for c in columns])
    return out.getvalue()


def _write_conll(path: Path, changes: dict[int, dict[str, Any]]) -> str:
    """Drop whole sentences (by their first line) from a CoNLL file, keeping every other line as it is."""
    out, skipping, first = [], False, True
    for number, line in enumerate(read_text(path).splitlines(), start=1):
        if not line.strip():
            skipping, first = False, True
            out.append(line)
            continue
        if first and not line.startswith("-DOCSTART-"):
            skipping = number in changes
            first = False
        if not skipping:
            out.append(line)
    text = "\n".join(out) + "\n"
    return re.sub(r"\n{3,}", "\n\n", text)


def write_clean_copies(files: dict[str, Path], plan: dict[str, list[dict[str, Any]]], fmt_of, label_column: str,
                       output: Path, raw_label=lambda name: name) -> dict[str, Path]:
    """Write each file with its planned changes into ``output`` (same name and format) and ``changes.jsonl``;
    returns split -> written path. ``raw_label`` turns a label name back into what the file holds."""
    output.mkdir(parents=True, exist_ok=True)
    written, log_lines = {}, []
    for name, path in files.items():
        changes = {c["line"]: c for c in plan.get(name, [])}
        fmt = fmt_of(path)
        if fmt in ("csv", "tsv", "jsonl"):
            columns, rows = read_jsonl(path) if fmt == "jsonl" else read_table(path, "," if fmt == "csv" else "\t")
            text = records_text(fmt, columns, _changed(rows, changes, label_column, raw_label))
        elif fmt == "conll":
            if any(c["action"] == "relabel" for c in changes.values()):
                raise DataError(f"{path}: --relabel-suspects reads single-label text files, not CoNLL")
            text = _write_conll(path, changes)
        else:
            raise DataError(f"{path}: --fix writes CSV, TSV, JSONL and CoNLL files, not {fmt}")
        target = output / path.name
        if target.resolve() == path.resolve():
            raise DataError(f"{target}: --fix never overwrites the original; choose another --output folder")
        atomic_write_text(target, text)
        written[name] = target
        log_lines += [json.dumps({"file": str(path), "split": name, **c}, ensure_ascii=False) for c in plan.get(name, [])]
    atomic_write_text(output / "changes.jsonl", "".join(line + "\n" for line in log_lines))
    return written
