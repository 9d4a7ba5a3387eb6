"""Robustness evaluation (``tuneforge evaluate BUNDLE --data FILE --robustness``): the task's metric on
the clean data and under each seeded perturbation (``tuneforge.evaluation.perturbations``), the share of
predictions that change, and the weakest perturbation with examples of the predictions it flipped.

Example:
    >>> table = robustness(predictor, examples, clean_metrics, clean_predictions, model_dir)
    >>> table["weakest"]
    'typos 20%'
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from .perturbations import perturb_examples

log = logging.getLogger("tuneforge")

TEXT_SUITE = (("typos", 0.1), ("typos", 0.2), ("case", 1.0), ("punctuation", 1.0), ("word_drop", 0.1),
              ("synonym", 0.1))
ENTITY_SUITE = TEXT_SUITE + (("entity_swap", 1.0),)
SHOWN_EXAMPLES = 5


def row_name(kind: str, rate: float) -> str:
    """How a perturbation is named in tables: ``typos 10%``, ``case``."""
    return f"{kind.replace('_', ' ')} {rate:.0%}" if rate < 1.0 else kind.replace("_", " ")


def _flipped(task, clean: dict[str, Any], noisy: dict[str, Any]) -> bool:
    """Whether noise changed a prediction: entity data compares the entity types found, in order (noise may
    add or drop words, so tags cannot be compared one by one); other tasks use their own comparison."""
    if "entities" in clean:
        return [e.get("type") for e in clean["entities"]] != [e.get("type") for e in noisy.get("entities", [])]
    return not task.same_prediction(clean, noisy)


def _shown(example: dict[str, Any]) -> str:
    if "tokens" in example:
        return " ".join(example["tokens"])
    return example["text"] + (f" || {example['text_pair']}" if isinstance(example.get("text_pair"), str) else "")


def _label(prediction: dict[str, Any]) -> Any:
    for key in ("label", "labels", "values"):
        if key in prediction:
            return prediction[key]
    return [f"{e.get('type')}: {e.get('text')}" for e in prediction.get("entities", [])]


def synonym_source(model_dir: str | Path | None):
    """The embedding-neighbour synonyms of the bundle's model, or None (with the reason logged) when its
    folder has no word-embedding matrix to take them from."""
    from ..data.augment import EmbeddingSynonyms
    from ..errors import TuneForgeError

    if model_dir is None:
        return None
    try:
        return EmbeddingSynonyms(str(model_dir))
    except (TuneForgeError, OSError) as exc:
        log.warning("robustness: no synonym swap (%s)", exc)
        return None


def robustness(predictor, examples: list[dict[str, Any]], clean_metrics: dict[str, Any],
               clean_predictions: list[dict[str, Any]], model_dir: str | Path | None = None, seed: int = 0
               ) -> dict[str, Any]:
    """The robustness table of ``predictor`` on ``examples``: one row per perturbation with the task's
    metric, its change from clean, the share of inputs changed and of predictions flipped, and up to
    five flipped examples; ``weakest`` names the row with the largest loss."""
    task = predictor.task
    if not task.augmentable:
        from ..errors import ConfigError

        raise ConfigError(f"--robustness perturbs words of text or entity data; {task.name} examples would break "
                          "(answer offsets, entity markers or images)")
    metric = task.default_metric
    lower_better = metric in task.lower_is_better
    entity_data = bool(examples) and "tokens" in examples[0]
    synonyms = synonym_source(model_dir)
    clean = clean_metrics.get(metric)
    rows = [{"perturbation": "clean", "kind": "clean", "rate": 0.0, "metric": clean, "change": 0.0,
             "inputs_changed": 0.0, "flipped": 0.0}]
    for kind, rate in ENTITY_SUITE if entity_data else TEXT_SUITE:
        if kind == "synonym" and synonyms is None:
            continue
        noisy = perturb_examples(examples, kind, rate, seed, synonyms)
        changed = [_shown(a) != _shown(b) for a, b in zip(examples, noisy)]
        metrics, predictions = predictor.evaluate(noisy)
        flips = [i for i, (a, b) in enumerate(zip(clean_predictions, predictions)) if _flipped(task, a, b)]
        value = metrics.get(metric)
        rows.append({
            "perturbation": row_name(kind, rate), "kind": kind, "rate": rate, "metric": value,
            "change": None if value is None or clean is None else round(value - clean, 6),
            "inputs_changed": round(sum(changed) / max(1, len(changed)), 6),
            "flipped": round(len(flips) / max(1, len(examples)), 6),
            "examples": [{"original": _shown(examples[i]), "perturbed": _shown(noisy[i]),
                          "before": _label(clean_predictions[i]), "after": _label(predictions[i])}
                         for i in flips[:SHOWN_EXAMPLES]],
        })
        log.info("robustness: %-14s %s %.4f (clean %.4f), %.1f%% of predictions flipped", rows[-1]["perturbation"],
                 metric, value if value is not None else float("nan"), clean if clean is not None else float("nan"),
                 100 * rows[-1]["flipped"])
    scored = [r for r in rows[1:] if r["change"] is not None]
    weakest = (max if lower_better else min)(scored, key=lambda r: r["change"]) if scored else None
    return {"metric": metric, "seed": seed, "rows": rows, "weakest": weakest["perturbation"] if weakest else None,
            "skipped": [] if synonyms is not None else ["synonym (no embedding matrix in the bundle's model)"]}


def robustness_markdown(table: dict[str, Any]) -> list[str]:
    """Markdown parts: the robustness table and the weakest perturbation's flipped examples."""
    from .report import markdown_table

    rows = [[r["perturbation"], r["metric"], r["change"], f"{r['inputs_changed']:.0%}", f"{r['flipped']:.1%}"]
            for r in table["rows"]]
    parts = [f"## Robustness (seed {table['seed']})", "",
             markdown_table(["perturbation", table["metric"], "change", "inputs changed", "predictions flipped"],
                            rows, right=(1, 2, 3, 4)), ""]
    weakest = next((r for r in table["rows"] if r["perturbation"] == table.get("weakest")), None)
    if weakest and weakest.get("examples"):
        parts += [f"Weakest: **{weakest['perturbation']}**. Flipped predictions:", "",
                  markdown_table(["original", "perturbed", "before", "after"],
                                 [[e["original"], e["perturbed"], e["before"], e["after"]]
                                  for e in weakest["examples"]]), ""]
    if table.get("skipped"):
        parts += [f"Skipped: {'; '.join(table['skipped'])}.", ""]
    return parts


def robustness_html(table: dict[str, Any]) -> str:
    """An HTML section body: the table with the weakest row marked, then its flipped examples."""
    from html import escape

    def cell(value: Any) -> str:
        return f"{value:.4f}" if isinstance(value, float) else escape(str(value))

    head = ("<tr><th>perturbation</th><th>" + escape(table["metric"]) + "</th><th>change</th>"
            "<th>inputs changed</th><th>predictions flipped</th></tr>")
    body = "".join(
        f'<tr{" class=weakest" if r["perturbation"] == table.get("weakest") else ""}><td>{escape(r["perturbation"])}'
        f'</td><td class=num>{cell(r["metric"])}</td><td class=num>{cell(r["change"])}</td>'
        f'<td class=num>{r["inputs_changed"]:.0%}</td><td class=num>{r["flipped"]:.1%}</td></tr>'
        for r in table["rows"])
    html = f"<p>Seed {table['seed']}; the weakest perturbation is marked.</p><table>{head}{body}</table>"
    weakest = next((r for r in table["rows"] if r["perturbation"] == table.get("weakest")), None)
    if weakest and weakest.get("examples"):
        html += (f"<h3>Flipped by {escape(weakest['perturbation'])}</h3><table><tr><th>original</th><th>perturbed"
                 "</th><th>before</th><th>after</th></tr>" + "".join(
                     f"<tr><td>{escape(e['original'])}</td><td>{escape(e['perturbed'])}</td>"
                     f"<td>{escape(str(e['before']))}</td><td>{escape(str(e['after']))}</td></tr>"
                     for e in weakest["examples"]) + "</table>")
    return html
