"""``tuneforge monitor``: a drift report from captured traffic (``--capture DIR`` of the server) against
a bundle's reference profile, and an export of the captured texts for labelling, the least certain
first (active learning), in the bundle's own columns so ``tuneforge continue --data`` reads it back.

The report (``drift.json``, ``drift.html``) gives the drift scores over the whole capture and over
consecutive windows of it (a timeline), and the captured texts that drifted most: the largest values
of the MMD witness function (how much more a text resembles the capture than the reference sample).

Example:
    >>> report = drift_report("captured", "runs/sst2/bundle", "drift-report")
    >>> report["overall"]["embedding"] > report["thresholds"]["embedding"]
    True
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from .capture import DATABASE
from .drift import rbf_kernel
from .live import PSI_THRESHOLD
from .profile import PROFILE_FILE, window_scores

MOST_DRIFTED = 20


def read_capture(folder: str | Path, last: int | None = None) -> list[dict[str, Any]]:
    """The captured rows (oldest first; the newest ``last`` when given), read-only."""
    path = Path(folder) / DATABASE
    if not path.is_file():
        raise ConfigError(f"{folder}: no {DATABASE} (start the server with --capture {folder})")
    query = "SELECT id, at, model, text, text_pair, label, confidence FROM traffic ORDER BY id DESC"
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            rows = db.execute(query + (" LIMIT ?" if last else ""), (last,) if last else ()).fetchall()
    except sqlite3.DatabaseError as exc:
        raise ConfigError(f"{path}: not a capture database ({exc})") from None
    keys = ("id", "at", "model", "text", "text_pair", "label", "confidence")
    return [dict(zip(keys, r)) for r in reversed(rows)]


def _labels_of(row: dict[str, Any]) -> list[str]:
    label = row["label"]
    if isinstance(label, str) and label.startswith("["):
        return json.loads(label)
    return [label] if label is not None else []


def _scores(rows, profile, label_names, sketches) -> dict[str, float]:
    return window_scores(profile, label_names, [_labels_of(r) for r in rows], [r["confidence"] or 0.0 for r in rows],
                         [r["text"] or "" for r in rows], sketches)


def drift_report(capture: str | Path, bundle: str | Path, output: str | Path, window: int = 500,
                 last: int | None = None) -> dict[str, Any]:
    """Drift of the captured traffic against ``bundle``'s profile: overall, per window, and the texts
    that drifted most; written to ``output`` (``drift.json``, ``drift.html``)."""
    from ..bundled import MODEL_DIR
    from ..data.augment import _input_embeddings
    from ..model_files import load_tokenizer
    from .profile import SentenceSketch

    profile_path = Path(bundle) / PROFILE_FILE
    if not profile_path.is_file():
        raise ConfigError(f"{bundle}: no {PROFILE_FILE} (a text classifier trained with this TuneForge has one)")
    profile = json.loads(profile_path.read_text(encoding="utf-8"))
    rows = read_capture(capture, last)
    if not rows:
        raise ConfigError(f"{capture}: nothing captured yet")
    label_names = list(profile["predicted_labels"])
    sketch = SentenceSketch(load_tokenizer(Path(bundle) / MODEL_DIR, ConfigError),
                            _input_embeddings(str(Path(bundle) / MODEL_DIR)))
    sketches = sketch([r["text"] or "" for r in rows])
    reference = np.asarray(profile["embeddings"], dtype=np.float32)
    thresholds = {"labels": PSI_THRESHOLD, "confidence": PSI_THRESHOLD, "length": PSI_THRESHOLD,
                  "embedding": profile["mmd_threshold"]}
    timeline = []
    for start in range(0, len(rows), window):
        part = rows[start:start + window]
        scores = _scores(part, profile, label_names, sketches[start:start + window])
        timeline.append({"first_id": part[0]["id"], "last_id": part[-1]["id"], "rows": len(part), **scores,
                         "drifted": [k for k, v in scores.items() if v > thresholds[k]]})
    witness = _witness(sketches, reference, profile["bandwidth"])
    order = np.argsort(-witness)[:MOST_DRIFTED]
    report = {"capture": str(capture), "bundle": str(bundle), "rows": len(rows), "window": window,
              "thresholds": thresholds, "overall": _scores(rows, profile, label_names, sketches),
              "timeline": timeline,
              "most_drifted": [{"id": rows[i]["id"], "text": rows[i]["text"], "label": rows[i]["label"],
                                "witness": round(float(witness[i]), 6)} for i in order]}
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    (out / "drift.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    (out / "drift.html").write_text(_html(report), encoding="utf-8")
    return report


def _html(report: dict[str, Any]) -> str:
    from html import escape

    t = report["thresholds"]
    signals = list(t)
    head = "".join(f"<th>{s}</th>" for s in signals)

    def cells(scores):
        return "".join(f'<td class="num{" over" if scores[s] > t[s] else ""}">{scores[s]:.4f}</td>' for s in signals)

    timeline = "".join(f"<tr><td>{w['first_id']}-{w['last_id']}</td><td>{w['rows']}</td>{cells(w)}</tr>"
                       for w in report["timeline"])
    drifted = "".join(f"<tr><td>{d['id']}</td><td>{escape(str(d['text']))}</td><td>{escape(str(d['label']))}</td>"
                      f"<td class=num>{d['witness']:.4f}</td></tr>" for d in report["most_drifted"])
    return (f"<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>Drift report</title><style>"
            "body{font-family:sans-serif;margin:2em}td,th{border:1px solid #ccc;padding:4px 8px}table{border-collapse:"
            "collapse}.num{text-align:right}.over{background:#fdecea;font-weight:bold}</style></head><body>"
            f"<h1>Drift report</h1><p>{report['rows']} captured rows from {escape(report['capture'])} against the "
            f"profile of {escape(report['bundle'])}; thresholds: "
            + ", ".join(f"{k} {v:.4g}" for k, v in t.items()) + "; scores over a threshold are marked.</p>"
            f"<h2>Overall</h2><table><tr>{head}</tr><tr>{cells(report['overall'])}</tr></table>"
            f"<h2>Timeline (windows of {report['window']})</h2><table><tr><th>rows (ids)</th><th>n</th>{head}</tr>"
            f"{timeline}</table><h2>Texts that drifted most</h2><p>The largest values of the MMD witness function: "
            "how much more a text resembles the captured traffic than the reference sample.</p><table><tr><th>id"
            f"</th><th>text</th><th>predicted</th><th>witness</th></tr>{drifted}</table></body></html>\n")


def _witness(sketches: np.ndarray, reference: np.ndarray, bandwidth: float, sample: int = 2000) -> np.ndarray:
    """The MMD witness function at each captured text: its mean kernel similarity to (a seeded sample of)
    the captured traffic minus that to the reference sample; the largest values drifted most."""
    rng = np.random.default_rng(0)
    traffic = sketches[rng.choice(len(sketches), min(sample, len(sketches)), replace=False)]
    return np.concatenate([rbf_kernel(chunk, traffic, bandwidth).mean(axis=1)
                           - rbf_kernel(chunk, reference, bandwidth).mean(axis=1)
                           for chunk in np.array_split(sketches, max(1, len(sketches) // 256))])


def export_for_labelling(capture: str | Path, bundle: str | Path, path: str | Path, limit: int | None = None) -> int:
    """Write the captured texts, least confident first, as a CSV in the bundle's columns with the label
    column empty (and the prediction beside it) for people to fill; returns the rows written."""
    from ..bundle import read_manifest
    from ..data.clean_copy import records_text

    manifest = read_manifest(bundle, verify=False)
    text_column = manifest.data.text_column
    label_column = manifest.data.label_column
    rows = sorted(read_capture(capture), key=lambda r: r["confidence"] if r["confidence"] is not None else 0.0)
    seen, out = set(), []
    for r in rows:
        if r["text"] and r["text"] not in seen:
            seen.add(r["text"])
            out.append(r)
    out = out[:limit] if limit else out
    rows = [{text_column: r["text"], label_column: "", "predicted": r["label"], "confidence": r["confidence"],
             "capture_id": r["id"]} for r in out]
    columns = [text_column, label_column, "predicted", "confidence", "capture_id"]
    Path(path).write_text(records_text("csv", columns, rows), encoding="utf-8")
    return len(out)
