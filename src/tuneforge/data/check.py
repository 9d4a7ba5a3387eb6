"""``tuneforge data check``: what is wrong with a data set before any training: reading problems, text
lengths in the model's tokens and what ``max_length`` cuts, scripts, labels per split, duplicates and
train/test leakage, likely label errors, entity tag-scheme errors, generation lengths.

``check_splits`` builds one report (a dict; ``data/check_report.py`` writes it as JSON, Markdown and
HTML). ``quick_check`` is the part ``train`` runs on its own splits, as warnings.

Example:
    >>> report = check_data("configs/sst2.yaml")
    >>> report["summary"]["errors"], report["duplicates"]["leaked"]["validation"]["count"]
    (0, 0)
"""

from __future__ import annotations

import functools
import logging
import re
import unicodedata
from collections import Counter
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..errors import DataError
from .duplicates import example_text, find_duplicates

log = logging.getLogger(__name__)

MIN_TRAIN_PER_CLASS = 2  # fewer cannot be split (stratified) or learnt
MIN_EVAL_PER_CLASS = 5  # fewer make that class's evaluation figures noise
SHORT_TEXT_CHARS = 3
TOKEN_SAMPLE = 5000  # texts whose token length is measured per split
TOP_SUSPECTS = 20
TOP_EXAMPLES = 10
_MOJIBAKE = re.compile("[\u00c3\u00c2][\u0080-\u00bf]|\u00e2\u0080")
_CONTROL = re.compile("[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]")
SCRIPT_SAMPLE = 20000  # texts whose scripts are counted per split


def _finding(findings: list[dict[str, Any]], severity: str, section: str, message: str) -> None:
    findings.append({"severity": severity, "section": section, "message": message})


@functools.lru_cache(maxsize=65536)
def _script(char: str) -> str | None:
    if not char.isalpha():
        return None
    try:
        name = unicodedata.name(char)
    except ValueError:
        return None
    first = name.split()[0]
    return {"CJK": "Han", "HIRAGANA": "Japanese", "KATAKANA": "Japanese"}.get(first, first.title())


def scripts_of(text: str) -> Counter:
    """How many letters of each script (Latin, Cyrillic, Greek, Arabic, Han...) ``text`` holds."""
    return Counter(s for s in map(_script, text) if s)


def script_mix(texts: list[str]) -> dict[str, Any]:
    """The dominant script of each text, counted, and how many texts mix two scripts (each 20%+ of letters)."""
    dominant: Counter = Counter()
    mixed = 0
    for text in texts:
        counts = scripts_of(text)
        if not counts:
            dominant["(no letters)"] += 1
            continue
        total = sum(counts.values())
        dominant[counts.most_common(1)[0][0]] += 1
        mixed += sum(n >= 0.2 * total for n in counts.values()) >= 2
    return {"dominant": dict(dominant.most_common()), "mixed": mixed}


def encoding_problems(texts: list[str]) -> dict[str, int]:
    """Texts with control characters, replacement characters (U+FFFD: a bad decode upstream) or
    mojibake (UTF-8 read as Latin-1, e.g. ``Ã©``)."""
    return {
        "control_characters": sum(bool(_CONTROL.search(t)) for t in texts),
        "replacement_characters": sum("\ufffd" in t for t in texts),
        "mojibake": sum(bool(_MOJIBAKE.search(t)) for t in texts),
    }


def token_lengths(tokenizer, examples: list[dict[str, Any]], max_length: int, limit: int = TOKEN_SAMPLE
                  ) -> dict[str, Any] | None:
    """Length in the model's tokens (special tokens included) of a sample of examples, its percentiles
    and the share longer than ``max_length`` (what training cuts)."""
    sample = examples[:limit]
    if not sample or tokenizer is None:
        return None
    if "tokens" in sample[0]:
        lengths = [len(tokenizer(e["tokens"], is_split_into_words=True)["input_ids"]) for e in sample]
    elif "messages" in sample[0]:
        return None  # generation: prompt and response lengths instead
    elif "question" in sample[0]:
        lengths = [len(tokenizer(e["question"], e["context"])["input_ids"]) for e in sample]
    elif isinstance(sample[0].get("text"), str):
        firsts = [e["text"] for e in sample]
        pairs = [e.get("text_pair") for e in sample]
        if any(pairs):
            encoded = tokenizer(firsts, [p or "" for p in pairs])
        else:
            encoded = tokenizer(firsts)
        lengths = [len(ids) for ids in encoded["input_ids"]]
    else:
        return None
    array = np.array(lengths)
    return {"measured": len(lengths), "max_length": max_length, "mean": round(float(array.mean()), 1),
            "p50": int(np.percentile(array, 50)), "p95": int(np.percentile(array, 95)), "max": int(array.max()),
            "truncated": int((array > max_length).sum()),
            "truncated_share": round(float((array > max_length).mean()), 4)}


def generation_lengths(tokenizer, examples: list[dict[str, Any]], max_length: int, limit: int = TOKEN_SAMPLE
                       ) -> dict[str, Any] | None:
    """Prompt and response lengths in tokens of conversation examples, and the share of whole
    conversations longer than ``max_length``."""
    sample = [e for e in examples[:limit] if "messages" in e]
    if not sample or tokenizer is None:
        return None
    prompts, responses, totals = [], [], []
    for e in sample:
        *context, last = e["messages"]
        prompt = len(tokenizer("\n".join(m["content"] for m in context))["input_ids"])
        response = len(tokenizer(last["content"])["input_ids"])
        prompts.append(prompt)
        responses.append(response)
        totals.append(prompt + response)
    stats = lambda values: {"mean": round(float(np.mean(values)), 1), "p50": int(np.percentile(values, 50)),  # noqa: E731
                            "p95": int(np.percentile(values, 95)), "max": int(np.max(values))}
    return {"measured": len(sample), "max_length": max_length, "prompt_tokens": stats(prompts),
            "response_tokens": stats(responses), "max": int(max(totals)), "truncated": int(sum(t > max_length for t in totals)),
            "truncated_share": round(float(np.mean([t > max_length for t in totals])), 4)}


def label_counts(examples: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Counts of each label (single- or multi-label), summary statistics of numeric labels, or None."""
    labels = [e.get("label") for e in examples if "label" in e]
    if not labels:
        return None
    if all(isinstance(label, str) for label in labels):
        return {"kind": "single", "counts": dict(Counter(labels).most_common())}
    if all(isinstance(label, list) and all(isinstance(x, str) for x in label) for label in labels):
        return {"kind": "multi", "counts": dict(Counter(x for label in labels for x in label).most_common()),
                "no_label": sum(not label for label in labels)}
    numbers = [x for label in labels for x in (label if isinstance(label, list) else [label])
               if isinstance(x, (int, float))]
    if numbers:
        array = np.array(numbers, dtype=float)
        return {"kind": "numeric", "min": float(array.min()), "max": float(array.max()),
                "mean": round(float(array.mean()), 4), "std": round(float(array.std()), 4)}
    return None


def tag_scheme_errors(examples: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Entity data: ``I-X`` tags that do not continue an ``X`` entity (IOB2), and entity-type counts."""
    tagged = [e for e in examples if "tags" in e]
    if not tagged:
        return None
    errors, types = [], Counter()
    for e in tagged:
        previous = "O"
        for position, tag in enumerate(e["tags"]):
            if tag.startswith(("B-", "S-")):
                types[tag[2:]] += 1
            elif tag.startswith("I-") and previous[2:] != tag[2:]:
                errors.append({"where": e.get("where", ""), "token": position + 1, "tag": tag, "after": previous})
            previous = tag
    return {"errors": len(errors), "examples": errors[:TOP_EXAMPLES], "entity_types": dict(types.most_common())}


def _label_findings(findings, counts: dict[str, dict[str, Any]]) -> None:
    train = counts.get("train")
    if not train or train["kind"] not in ("single", "multi"):
        return
    for label, n in train["counts"].items():
        if n < MIN_TRAIN_PER_CLASS:
            _finding(findings, "warning", "labels", f"label {label!r} has {n} training example(s): too few to "
                                                    "split or to learn")
    for name, split in counts.items():
        if name == "train" or not split or split["kind"] != train["kind"]:
            continue
        unseen = [label for label in split["counts"] if label not in train["counts"]]
        if unseen:
            _finding(findings, "error", "labels", f"{name} holds label(s) never seen in training: "
                                                  f"{', '.join(map(repr, unseen[:10]))}")
        small = [label for label, n in split["counts"].items() if n < MIN_EVAL_PER_CLASS]
        if small:
            _finding(findings, "warning", "labels", f"{name}: {len(small)} label(s) with fewer than "
                                                    f"{MIN_EVAL_PER_CLASS} examples ({', '.join(map(repr, small[:10]))}"
                                                    f"{'...' if len(small) > 10 else ''}): their scores are noise")
        missing = [label for label in train["counts"] if label not in split["counts"]]
        if missing:
            _finding(findings, "info", "labels", f"{name} holds no example of {len(missing)} training label(s) "
                                                 f"({', '.join(map(repr, missing[:10]))})")


def check_splits(splits: dict[str, list[dict[str, Any]]], *, tokenizer=None, max_length: int = 128,
                 model_path: str | None = None, near: bool = True, label_errors: bool = True, duplicates: bool = True,
                 read_problems: dict[str, str] | None = None, progress: bool = True, windowed: bool = False
                 ) -> dict[str, Any]:
    """The data report of already-read splits (``train`` first). ``model_path``: the backbone whose
    embeddings the label-error search uses (None: no search). ``windowed``: the task reads long inputs
    in overlapping windows (question answering), so nothing is cut."""
    findings: list[dict[str, Any]] = []
    report: dict[str, Any] = {"splits": {}, "findings": findings}
    for name, problem in (read_problems or {}).items():
        _finding(findings, "error", "reading", f"{name}: {problem}")
    texts = {name: [example_text(e) for e in examples] for name, examples in splits.items()}
    counts = {}
    for name, examples in splits.items():
        plain = [t for t in texts[name] if t is not None]
        section: dict[str, Any] = {"examples": len(examples)}
        if plain:
            section["short_texts"] = sum(len(t.strip()) < SHORT_TEXT_CHARS for t in plain)
            section["encoding"] = encoding_problems(plain)
            section["scripts"] = script_mix(plain[:SCRIPT_SAMPLE])
            if examples and "messages" in examples[0]:
                section["generation_lengths"] = generation_lengths(tokenizer, examples, max_length)
            else:
                section["token_lengths"] = token_lengths(tokenizer, examples, max_length)
        section["labels"] = counts[name] = label_counts(examples)
        tags = tag_scheme_errors(examples)
        if tags is not None:
            section["entities"] = tags
            if tags["errors"]:
                first = tags["examples"][0]
                _finding(findings, "warning", "entities", f"{name}: {tags['errors']} I- tag(s) that do not continue an "
                                                          f"entity of their type (first: {first['where']}, token "
                                                          f"{first['token']}, {first['tag']} after {first['after']})")
        report["splits"][name] = section
        for problem, n in section.get("encoding", {}).items():
            if n:
                _finding(findings, "warning", "texts", f"{name}: {n} text(s) with {problem.replace('_', ' ')}")
        if section.get("short_texts"):
            _finding(findings, "info", "texts", f"{name}: {section['short_texts']} text(s) shorter than "
                                                f"{SHORT_TEXT_CHARS} characters")
        lengths = section.get("token_lengths") or section.get("generation_lengths")
        if lengths and lengths["truncated"] and windowed:
            _finding(findings, "info", "texts", f"{name}: {lengths['truncated_share']:.1%} of the measured examples "
                                                f"are longer than max_length={max_length} tokens and are read in "
                                                "several overlapping windows")
        elif lengths and lengths["truncated"]:
            _finding(findings, "warning" if lengths["truncated_share"] >= 0.05 else "info", "texts",
                     f"{name}: {lengths['truncated_share']:.1%} of the measured examples are longer than "
                     f"max_length={max_length} tokens and get cut (longest: {lengths['max']})")
        scripts = section.get("scripts")
        if scripts and len([s for s, n in scripts["dominant"].items() if n >= 0.01 * len(plain)]) > 1:
            _finding(findings, "info", "texts", f"{name}: texts in several scripts: " + ", ".join(
                f"{s} {n}" for s, n in list(scripts["dominant"].items())[:5]))
    _label_findings(findings, counts)
    if duplicates:
        report["duplicates"] = _duplicates_section(findings, splits, texts, near, progress)
    if label_errors and model_path is not None:
        report["label_errors"] = _label_error_section(findings, splits.get("train", []), texts.get("train", []),
                                                      model_path, progress)
    order = {"error": 0, "warning": 1, "info": 2}
    findings.sort(key=lambda f: order[f["severity"]])
    report["summary"] = {s + "s": sum(f["severity"] == s for f in findings) for s in order}
    return report


def _duplicates_section(findings, splits, texts, near: bool, progress: bool = False) -> dict[str, Any]:
    found = find_duplicates(texts, near=near, progress=progress)
    section: dict[str, Any] = {"within": {}, "leaked": {}, "near_search": near}

    def show(name: str, index: int) -> dict[str, Any]:
        return {"where": splits[name][index].get("where", f"{name} #{index + 1}"), "text": texts[name][index]}

    for name, groups in found.within.items():
        extra = sum(len(g["indexes"]) - 1 for g in groups)
        section["within"][name] = {"groups": len(groups), "extra_copies": extra,
                                   "exact": sum(g["kind"] == "exact" for g in groups),
                                   "near": sum(g["kind"] == "near" for g in groups),
                                   "examples": [{**g, "items": [show(name, i) for i in g["indexes"][:3]]}
                                                for g in groups[:TOP_EXAMPLES]]}
        if extra:
            _finding(findings, "warning", "duplicates", f"{name}: {len(groups)} group(s) of duplicates "
                                                        f"({extra} extra copies; near duplicates: "
                                                        f"{section['within'][name]['near']} group(s))")
    for name, items in found.leaked.items():
        section["leaked"][name] = {"count": len(items), "exact": sum(i["kind"] == "exact" for i in items),
                                   "near": sum(i["kind"] == "near" for i in items),
                                   "items": [{**i, name: show(name, i["index"]), "train": show("train", i["train_index"])}
                                             for i in items]}
        if items:
            _finding(findings, "error", "leakage", f"{name}: {len(items)} of {len(splits[name])} examples also appear "
                                                   f"in the training data ({section['leaked'][name]['exact']} exact, "
                                                   f"{section['leaked'][name]['near']} near): scores on {name} overstate "
                                                   "the model")
    section["removable"] = {name: found.removable(name) for name in splits}
    return section


def _label_error_section(findings, train, texts, model_path: str, progress: bool) -> dict[str, Any]:
    from .label_errors import find_label_errors

    if not train or not all(isinstance(e.get("label"), str) and isinstance(e.get("text"), str) for e in train):
        return {"skipped": "the label-error search reads single-label text classification data"}
    try:
        result = find_label_errors(train, model_path, progress=progress)
    except DataError as exc:
        return {"skipped": str(exc)}
    suspects = result.suspects(train, [e["text"] for e in train], TOP_SUSPECTS)
    if result.flagged:
        _finding(findings, "warning", "label errors", f"train: {len(result.flagged)} example(s) look mislabelled "
                                                      f"(cleanlab on cross-validated probabilities; top {len(suspects)} "
                                                      "listed)")
    return {"flagged": len(result.flagged), "cross_validated_accuracy": round(result.accuracy, 4),
            "seconds": result.seconds, "suspects": suspects, "ranked": result.ranked,
            "flagged_indexes": result.flagged, "suggested": result.suggested}


def quick_check(splits: dict[str, list[dict[str, Any]]], tokenizer, max_length: int,
                warn: Callable[[str], None] | None = None, windowed: bool = False) -> dict[str, Any]:
    """What ``train`` checks before it trains (``load_splits`` already warned of exact duplicates and
    leakage; no near-duplicate or label-error search): each warning and error finding is logged as a
    warning."""
    report = check_splits(splits, tokenizer=tokenizer, max_length=max_length, near=False, label_errors=False,
                          duplicates=False, windowed=windowed)
    warn = warn or log.warning
    for finding in report["findings"]:
        if finding["severity"] in ("error", "warning"):
            warn(f"data check: {finding['message']}")
    return report


def read_for_check(task, files: dict[str, Path | None], data_format, columns
                   ) -> tuple[dict[str, list[dict[str, Any]]], dict[str, str]]:
    """Read each given file the way ``task`` does; a file that cannot be read becomes a problem line
    (the others are still checked)."""
    from .examples import read_task_file

    splits, problems = {}, {}
    for name, path in files.items():
        if path is None:
            continue
        try:
            splits[name] = read_task_file(task, path, data_format, columns)
        except DataError as exc:
            problems[name] = str(exc)
    return splits, problems
