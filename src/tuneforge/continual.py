"""Continual fine-tuning (``tuneforge continue BUNDLE --data NEW``): train a bundle's model further on
new data mixed with a replay sample of its original training data, then measure what it forgot and
what it gained, and register it as a candidate only when the forgetting stays within bounds.

- The new file is split (seeded) into new training data and a new test split (``new_test``).
- ``replay`` is the share of the training mix drawn from the original training file: with 0.2, the
  mix holds one old example for every four new ones (0: new data only).
- Training is the bundle's own run config (method, settings, columns) with the bundle's model as the
  starting point: full fine-tuning continues its weights; a method with adapters (merged into the
  bundle) adds a new adapter on top. Validation is carved from the mix.
- ``anchor`` > 0 pulls the weights back towards the bundle's after every step (an L2-SP penalty,
  ``tuneforge.training.callbacks.anchor_to_start``), another guard against forgetting.
- Old and new models are evaluated on the original test file (``old_test``, default the run's) and on
  the new test split; forgetting = old-set drop in points, gain = new-set rise in points. With
  ``max_forgetting`` exceeded, the new bundle is kept but not registered.

Example:
    >>> report = continue_training("runs/sst2/bundle", "new_reviews.csv", replay=0.2)
    >>> report["forgetting_points"], report["gain_points"]
    (0.4, 3.1)
"""

from __future__ import annotations

import json
import logging
import random
from pathlib import Path
from typing import Any

from .errors import ConfigError

log = logging.getLogger("tuneforge")


def _write_jsonl(path: Path, examples: list[dict[str, Any]], text_column: str, pair_column: str | None,
                 label_column: str) -> Path:
    from .data.clean_copy import records_text

    rows = [{text_column: e["text"], label_column: e["label"], **({pair_column: e.get("text_pair")} if pair_column
                                                                   else {})} for e in examples]
    path.write_text(records_text("jsonl", [], rows), encoding="utf-8")
    return path


def continue_training(bundle: str | Path, data: str | Path, replay: float = 0.2, max_forgetting: float = 1.0,
                      new_test: float = 0.2, old_test: str | Path | None = None, output: str | Path | None = None,
                      register: str | None = None, registry: str | Path | None = None, seed: int = 42,
                      overrides: list[str] | None = None, mlflow: str | None = None, anchor: float = 0.0
                      ) -> dict[str, Any]:
    """Continue training ``bundle`` on ``data`` (see the module docstring); returns the report, also
    written to ``continue.json`` and ``continue.md`` in the new run folder."""
    from .bundle import read_manifest
    from .bundled import MODEL_DIR
    from .config import build_config, load_config
    from .data.examples import DataColumns
    from .data.readers import data_format_of
    from .outputs import claimed_run_config
    from .predictor import Predictor
    from .tasks import get_task
    from .training.callbacks import anchor_to_start
    from .training.run import train_run

    if not 0 <= replay < 1:
        raise ConfigError(f"--replay is the share of old examples in the training mix: from 0 to below 1, not {replay}")
    if not 0 < new_test < 1:
        raise ConfigError(f"--new-test must be between 0 and 1, not {new_test}")
    bundle = Path(bundle)
    manifest = read_manifest(bundle)
    task = get_task(manifest.task.type)
    run_config = bundle.parent / "config.yaml"
    if not run_config.is_file():
        raise ConfigError(f"{bundle}: continue needs the run's config.yaml beside the bundle (the run folder)")
    cfg = load_config(run_config)
    if not (task.augmentable and task.logit_kind) or task.tags_words:
        raise ConfigError(f"continue covers text classification, pairs and regression; not {task.name}")
    if manifest.model.kind != "transformers":
        raise ConfigError(f"continue starts from a bundle with plain transformers weights; this one holds "
                          f"{manifest.model.kind} (set method.merge: true, or retrain)")
    columns = DataColumns.of(cfg.data)

    def fmt(path: Path, given: str | None = None) -> str:
        found = data_format_of(path, given)
        if found is None:
            raise ConfigError(f"{path}: cannot tell the data format from its name (csv, tsv, jsonl)")
        return found
    new = task.read_examples(Path(data), fmt(Path(data)), columns)
    old_train = task.read_examples(Path(cfg.data.train), fmt(Path(cfg.data.train), cfg.data.format), columns)
    old_test_path = Path(old_test or cfg.data.test or cfg.data.validation or "")
    if not old_test_path.is_file():
        raise ConfigError("give --old-test FILE: the bundle's run names no test file to measure forgetting on")
    old_test_examples = task.read_examples(old_test_path, fmt(old_test_path, None if old_test else cfg.data.format),
                                           columns)
    task.check_known_labels(new, manifest.task.label_names, "new data")
    rng = random.Random(seed)
    shuffled = rng.sample(new, len(new))
    cut = max(1, round(new_test * len(shuffled)))
    new_test_examples, new_train = shuffled[:cut], shuffled[cut:]
    n_old = min(len(old_train), round(len(new_train) * replay / (1 - replay)))
    mix = new_train + rng.sample(old_train, n_old)
    rng.shuffle(mix)
    out = Path(output) if output else bundle.parent.parent / f"{bundle.parent.name}-continued"
    out.mkdir(parents=True, exist_ok=True)
    c = cfg.data
    mix_file = _write_jsonl(out / "continue_train.jsonl", mix, c.text_column, c.text_pair_column, c.label_column)
    test_file = _write_jsonl(out / "continue_new_test.jsonl", new_test_examples, c.text_column, c.text_pair_column,
                             c.label_column)
    raw = cfg.model_dump(mode="json")
    raw["data"].update({"train": str(mix_file), "validation": None, "test": str(test_file), "format": "jsonl",
                        "max_train_samples": None, "few_shot": None, "augment": None,
                        "label_names": manifest.task.label_names})
    raw["model"]["name"] = str(bundle / MODEL_DIR)
    raw["output"] = {**raw.get("output", {}), "dir": str(out / "run")}
    raw["name"] = f"{cfg.name}-continued"
    log.info("continue: %d new training examples + %d replayed (%.0f%%); %d new test examples", len(new_train), n_old,
             100 * replay, len(new_test_examples))
    if anchor < 0:
        raise ConfigError(f"--anchor is a penalty weight: 0 or more, not {anchor}")
    new_cfg = claimed_run_config(build_config(raw, overrides), overwrite=False)
    result = train_run(new_cfg, callbacks=[anchor_to_start(anchor)] if anchor else None)
    before, after = Predictor.load(bundle), result.predictor
    metric = task.default_metric
    scores = {name: {"before": before.evaluate(examples)[0][metric], "after": after.evaluate(examples)[0][metric]}
              for name, examples in (("old_test", old_test_examples), ("new_test", new_test_examples))}
    scale = 100.0 if metric in ("accuracy", "macro_f1", "micro_f1", "f1") else 1.0
    forgetting = round(scale * (scores["old_test"]["before"] - scores["old_test"]["after"]), 4)
    gain = round(scale * (scores["new_test"]["after"] - scores["new_test"]["before"]), 4)
    report = {"bundle": str(bundle), "new_bundle": str(result.bundle_dir), "data": str(data), "metric": metric,
              "replay": replay, "replayed": n_old, "anchor": anchor, "new_train": len(new_train), "new_test": len(new_test_examples),
              "old_test_file": str(old_test_path), "scores": scores, "forgetting_points": forgetting,
              "gain_points": gain, "max_forgetting": max_forgetting, "candidate": forgetting <= max_forgetting}
    if not report["candidate"]:
        report["refused"] = (f"the old-set {metric} dropped {forgetting:.2f} points, more than --max-forgetting "
                             f"{max_forgetting:g}: not registered")
        log.warning("continue: %s", report["refused"])
    elif register:
        from .registry_access import open_registry

        reg = open_registry(registry, mlflow)
        version = reg.push(result.bundle_dir, register)
        reg.promote(register, version, "candidate")
        report["registered"] = {"name": register, "version": version, "stage": "candidate"}
    (result.run_dir / "continue.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    (result.run_dir / "continue.md").write_text(continue_markdown(report), encoding="utf-8")
    return report


def continue_markdown(report: dict[str, Any]) -> str:
    """The continual fine-tuning report as markdown."""
    from .evaluation.report import markdown_table

    s = report["scores"]
    rows = [[name.replace("_", " "), v["before"], v["after"]] for name, v in s.items()]
    verdict = report.get("refused") or ("registered as " + json.dumps(report["registered"]) if report.get("registered")
                                        else "within --max-forgetting")
    return "\n".join([
        f"# Continual fine-tuning of {report['bundle']}", "",
        f"- new data: {report['data']} ({report['new_train']} training, {report['new_test']} test examples)",
        f"- replay: {report['replay']:.0%} of the mix ({report['replayed']} original training examples)",
        f"- forgetting: **{report['forgetting_points']:.2f}** points on {report['old_test_file']}; "
        f"gain: **{report['gain_points']:.2f}** points on the new test split", f"- verdict: {verdict}", "",
        markdown_table([report["metric"], "before", "after"], rows, right=(1, 2)), ""])
