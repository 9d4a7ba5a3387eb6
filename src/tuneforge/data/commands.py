"""The ``tuneforge data`` commands behind the API: check a data set (report, optional cleaned copy),
write an augmented training split, and mask personal data in a file."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError, DataError

log = logging.getLogger(__name__)

CONFIG_SUFFIXES = (".yaml", ".yml")


@dataclass
class CheckResult:
    """What ``check_data`` found and wrote."""

    report: dict[str, Any]
    report_path: Path
    cleaned: dict[str, Path] | None = None
    changes: int = 0


def _config_for(source: str | Path, task: str | None, data_format: str | None):
    """A run config: the YAML file itself, or a starter config guessed for a data file."""
    import yaml

    from ..config import build_config, load_config
    from ..starter_config import starter_config

    source = Path(source)
    if source.suffix.lower() in CONFIG_SUFFIXES:
        return load_config(source)
    starter = starter_config(source, task, data_format)
    raw = yaml.safe_load(starter.text)
    raw["data"]["train"] = str(source.resolve())
    return build_config(raw)


def _raw_label(label_names):
    """Label name -> what the file holds (the index of a list of names, the raw key of a mapping)."""
    if isinstance(label_names, list):
        return lambda name: str(label_names.index(name))
    if isinstance(label_names, dict):
        back = {v: k for k, v in label_names.items()}
        return lambda name: back.get(name, name)
    return lambda name: name


def check_data(source: str | Path, output: str | Path | None = None, task: str | None = None,
               data_format: str | None = None, near: bool = True, label_errors: bool = True, fix: bool = False,
               drop_suspects: int = 0, relabel_suspects: int = 0, progress: bool = True) -> CheckResult:
    """Check the data of a run config (its train/validation/test files) or of one data file, write
    ``data_report.{html,md,json}`` into ``output``, and with ``fix`` a cleaned copy of each file."""
    from ..backbone import resolve_backbone
    from ..model_files import load_tokenizer
    from ..tasks import get_task
    from ..training.run import backbone_name
    from .check import check_splits, read_for_check
    from .check_report import write_report
    from .examples import DataColumns
    from .readers import infer_format

    cfg = _config_for(source, task, data_format)
    task_obj = get_task(cfg.task.type).with_options(cfg.task)
    if task_obj.reads_images:
        raise DataError(f"{source}: the data check reads text data; {task_obj.name} data is images")
    files = {"train": cfg.data.train, "validation": cfg.data.validation, "test": cfg.data.test}
    splits, problems = read_for_check(task_obj, files, cfg.data.format, DataColumns.of(cfg.data))
    if "train" not in splits:
        raise DataError(problems["train"])
    model_path = resolve_backbone(backbone_name(cfg, task_obj))
    tokenizer = load_tokenizer(Path(model_path))
    task_obj.prepare_tokenizer(tokenizer)
    max_length = cfg.model.max_length or task_obj.default_max_length
    report = check_splits(splits, tokenizer=tokenizer, max_length=max_length, model_path=model_path, near=near,
                          label_errors=label_errors, read_problems=problems, progress=progress,
                          windowed=task_obj.windows_long_inputs)
    report["source"] = str(source)
    report["task"] = task_obj.name
    report["model"] = backbone_name(cfg, task_obj)
    report["files"] = {name: str(path) for name, path in files.items() if path is not None}
    folder = Path(output) if output else Path(f"data-check-{cfg.name}")
    result = CheckResult(report, write_report(report, folder))
    _write_label_ranking(report, splits.get("train", []), folder)
    if fix or drop_suspects or relabel_suspects:
        from .clean_copy import planned_changes, write_clean_copies

        plan = planned_changes(report, splits, drop_suspects, relabel_suspects)
        readable = {name: Path(path) for name, path in files.items() if name in splits}
        fmt_of = lambda path: cfg.data.format or infer_format(path, task_obj)  # noqa: E731
        result.cleaned = write_clean_copies(readable, plan, fmt_of, cfg.data.label_column, folder / "cleaned",
                                            _raw_label(cfg.data.label_names))
        result.changes = sum(len(changes) for changes in plan.values())
    return result


def _write_label_ranking(report: dict[str, Any], train: list[dict[str, Any]], folder: Path) -> None:
    """``label_ranking.json``: every training example from most to least likely mislabelled (where it
    is, and its line), and the lines cleanlab flags."""
    from ..fileops import atomic_write_text
    from .clean_copy import line_number

    errors = report.get("label_errors") or {}
    if "ranked" not in errors:
        return
    ranking = {"ranked": [train[i].get("where", "") for i in errors["ranked"]],
               "ranked_lines": [line_number(train[i]) for i in errors["ranked"]],
               "flagged_lines": [line_number(train[i]) for i in errors["flagged_indexes"]]}
    atomic_write_text(folder / "label_ranking.json", json.dumps(ranking))


def augment_data(config: str | Path, output: str | Path | None = None, factor: int | None = None,
                 overrides: list[str] | None = None) -> dict[str, Any]:
    """Split the config's data as ``train`` would, add ``data.augment``'s copies (``factor`` overrides its
    factor) to the training split only, and write the splits (JSONL, or CoNLL for entities) with a config
    that trains on them. Returns what was written."""
    from ..backbone import resolve_backbone
    from ..config import dump_config, load_config
    from ..fileops import atomic_write_text
    from ..tasks import get_task
    from ..training.run import backbone_name
    from . import load_splits
    from .transforms import augment_training

    cfg = load_config(config, overrides)
    augment = cfg.data.augment or _default_augment()
    if factor is not None:
        augment = augment.model_copy(update={"factor": factor})
    task = get_task(cfg.task.type).with_options(cfg.task)
    if not task.augmentable:
        raise ConfigError(f"data augmentation works on classification, multi-label, regression, sentence-pair "
                          f"and entity data, not {task.name}")
    splits = load_splits(cfg.data, task)
    model_path = resolve_backbone(backbone_name(cfg, task))
    train = augment_training(splits.train, augment, model_path)
    folder = Path(output) if output else Path(f"{cfg.name}-augmented")
    folder.mkdir(parents=True, exist_ok=True)
    entity = "tokens" in train[0]
    written = {}
    for name, part in (("train", train), ("validation", splits.validation), ("test", splits.test or [])):
        if not part:
            continue
        path = folder / f"{name}.{'conll' if entity else 'jsonl'}"
        atomic_write_text(path, _conll(part) if entity else _jsonl(part))
        written[name] = path
    data = {k: v for k, v in cfg.data.model_dump(mode="json").items()
            if k not in ("train", "validation", "test", "augment", "split", "max_train_samples", "mask_pii",
                         "pii_ner_bundle", "format", "label_names", "few_shot")}
    data.update({"train": str(written["train"].resolve()), "validation": str(written["validation"].resolve())})
    if "test" in written:
        data["test"] = str(written["test"].resolve())
    if not entity:
        data.update({"text_column": "text", "label_column": "label", "label_delimiter": None,
                     "text_pair_column": "text_pair" if any(e.get("text_pair") for e in train) else None})
    new_cfg = cfg.model_copy(update={"data": type(cfg.data).model_validate(data), "name": f"{cfg.name}-augmented"})
    config_path = folder / "config.yaml"
    dump_config(new_cfg, config_path)
    return {"files": written, "config": config_path, "original": len(splits.train),
            "augmented": len(train) - len(splits.train)}


def _default_augment():
    from ..config import AugmentConfig

    return AugmentConfig()


def _jsonl(examples: list[dict[str, Any]]) -> str:
    lines = []
    for e in examples:
        row = {"text": e["text"]}
        if e.get("text_pair"):
            row["text_pair"] = e["text_pair"]
        row["label"] = e["label"]
        if e.get("augmented"):
            row["augmented"] = e["augmented"]
        lines.append(json.dumps(row, ensure_ascii=False))
    return "\n".join(lines) + "\n"


def _conll(examples: list[dict[str, Any]]) -> str:
    return "\n\n".join("\n".join(f"{t} {g}" for t, g in zip(e["tokens"], e["tags"])) for e in examples) + "\n"


def mask_file(path: str | Path, output: str | Path | None = None, types: list[str] | None = None,
              columns: list[str] | None = None, ner_bundle: str | Path | None = None, data_format: str | None = None,
              progress: bool = True) -> dict[str, Any]:
    """Write a copy of a CSV/TSV/JSONL/plain-text file with personal data masked in its text columns
    (``columns``; default: every column holding text). Returns counts per type and the written path."""
    from collections import Counter

    from ..fileops import atomic_write_text
    from .pii import DEFAULT_TYPES, PiiMasker
    from .readers import data_format_of, read_jsonl, read_table, read_text

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path.absolute()}: file not found")
    fmt = data_format or ("text" if path.suffix.lower() == ".txt" else data_format_of(path))
    if fmt not in ("csv", "tsv", "jsonl", "text"):
        raise DataError(f"{path}: data mask reads CSV, TSV, JSONL or plain-text (.txt) files; give --format")
    masker = PiiMasker(types or DEFAULT_TYPES, ner_bundle)
    target = Path(output) if output else path.with_name(f"{path.stem}.masked{path.suffix}")
    if target.resolve() == path.resolve():
        raise DataError(f"{target}: data mask never overwrites the original; choose another --output")
    counts: Counter = Counter()

    def mask(text: str) -> str:
        found = masker.find(text)
        counts.update(f.type for f in found)
        return masker.mask(text) if found else text

    from ..logs import progress_bar

    if fmt == "text":
        lines = read_text(path).splitlines()
        out = "\n".join(mask(line) for line in progress_bar(lines, "masking", progress)) + "\n"
        rows = len(lines)
    else:
        names, records = read_jsonl(path) if fmt == "jsonl" else read_table(path, "," if fmt == "csv" else "\t")
        chosen = columns or [c for c in names if any(isinstance(r.values.get(c), str) and
                                                     any(ch.isalpha() for ch in r.values[c]) for r in records[:200])]
        missing = [c for c in chosen if c not in names]
        if missing:
            raise DataError(f"{path}: column {missing[0]!r} not found; the file has: {', '.join(names)}")
        for record in progress_bar(records, "masking", progress):
            for c in chosen:
                if isinstance(record.values.get(c), str):
                    record.values[c] = mask(record.values[c])
        from .clean_copy import records_text

        out = records_text(fmt, names, [r.values for r in records])
        rows = len(records)
    atomic_write_text(target, out)
    return {"output": target, "rows": rows, "masked": dict(counts)}
