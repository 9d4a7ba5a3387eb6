"""One training run, top to bottom: data -> model -> method -> Trainer -> evaluation -> bundle."""

from __future__ import annotations

import json
import logging
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..backbone import backbone_reference, resolve_backbone
from ..bundle import MANIFEST, DataSection, Manifest, save_bundle
from ..config import RunConfig, dump_config
from ..data import load_splits
from ..data.transforms import apply_data_section, quick_data_check
from ..errors import ConfigError
from ..evaluation.report import headline
from ..fileops import atomic_write_text, remove_stale
from ..inference_precision import check_bf16_inference, inference_precision
from ..methods import METHODS, check_model_family, count_parameters
from ..precision import plain_model, resolve_precision
from ..predictor import Predictor
from ..tasks import get_task
from .after_evaluation import after_evaluation
from .arguments import training_arguments
from .callbacks import patient_early_stopping, use_quiet_progress
from .checkpoints import (
    completion_marker,
    last_complete_checkpoint,
    newest_complete_checkpoint,
    no_step_past_max,
    remove_dir,
    resumed_train_metrics,
)
from .distributed import (
    check_distributable,
    end_process_group,
    global_batch_sampling,
    is_main_process,
    world,
)
from .fused_clipping import fused_clipping
from .heap import freed_memory_kept, pays_for
from .mask_dropout import for_training, plain_dropout
from .run_log import attach_log_file, format_seconds, peak_rss_mb, record_failure
from .run_report import backbone_name, display_backbone, report  # noqa: F401  (display_backbone: re-exported)
from .tracking import tracking_callbacks

log = logging.getLogger("tuneforge")


@dataclass
class RunResult:
    """What a training run produced."""

    run_dir: Path
    bundle_dir: Path | None
    metrics: dict[str, Any]
    eval_split: str
    wall_seconds: float
    predictor: Predictor
    train_seconds: float = 0.0
    trainable_parameters: int = 0
    total_parameters: int = 0
    best_validation: float | None = None
    metric: str = ""
    eval_examples: list[dict[str, Any]] = field(default_factory=list)


def resolve_run_dir(cfg: RunConfig) -> Path:
    """``output.dir`` or ``runs/<config name>-<timestamp>`` (see ``tuneforge.outputs``)."""
    from ..outputs import run_folder

    return run_folder(cfg)


@dataclass
class Fitted:
    """A trained model and the facts about its training that the report and manifest need."""

    model: Any
    trainable: int
    total: int
    merged: bool
    train_seconds: float
    train_metrics: dict[str, Any]
    best: float | None = None
    best_step: int | None = None  # the checkpoint restored at the end (Trainer's best_global_step)
    steps: int = 0
    epochs: float = 0.0
    facts: dict[str, Any] = field(default_factory=dict)
    log_history: list[dict[str, Any]] | None = None
    new_parameters: list[str] = field(default_factory=list)  # what the base checkpoint lacked (BuiltModel)


def run_trainer_class(task, trainer):
    """The Trainer class a run of ``task`` trains with (the benchmarks too): the task's own (its loss and
    collation), clipping folded into fused AdamW, no step past ``max_steps`` after a resume."""
    return fused_clipping(no_step_past_max(task.trainer_class(trainer)))


def _fit_with_trainer(cfg, task, method, model_path, tokenizer, splits, max_length, metric, checkpoints,
                      resume_from, run_dir, extra_callbacks=()) -> Fitted:
    """The gradient path: method applied to a transformers model, trained by Trainer."""
    from transformers import Trainer

    built = method.build_model(task, model_path, splits.label_names, cfg.method)
    model = method.apply(built.model, cfg.method, task)
    model = for_training(model, cfg.train)  # cheaper CPU dropout masks; undone before evaluation and saving
    trainable, total = count_parameters(model)
    log.info("method %s: %d of %d parameters train (%.2f%%)", cfg.method.name, trainable, total, 100 * trainable / total)
    train_ds = task.encode_training(splits.train, tokenizer, splits.label_names, max_length, cfg.train.seed)
    val_ds = task.encode(splits.validation, tokenizer, splits.label_names, max_length)
    args = training_arguments(cfg, checkpoints, metric=metric, greater_is_better=metric not in task.lower_is_better,
                              group_by_length=cfg.train.group_by_length and task.length_grouping)
    main = is_main_process()  # in a distributed run, only rank 0 writes the run folder (others: their RNG state)
    callbacks = method.callbacks(cfg.method) + list(extra_callbacks) + [completion_marker()]
    if cfg.train.early_stopping_patience:
        callbacks.append(patient_early_stopping(cfg.train.early_stopping_patience))
    trainer_class = run_trainer_class(task, Trainer)
    if cfg.train.adversarial:
        from .adversarial import adversarial_trainer, describe

        trainer_class = adversarial_trainer(trainer_class, cfg.train.adversarial)
        log.info(describe(cfg.train.adversarial))
    if world()[1] > 1:
        trainer_class = global_batch_sampling(trainer_class)
    with tracking_callbacks(cfg, run_dir) if main else nullcontext([]) as trackers:
        trainer = trainer_class(
            model=model,
            args=args,
            train_dataset=train_ds,
            eval_dataset=val_ds,
            data_collator=task.collator(tokenizer),
            processing_class=tokenizer,
            compute_metrics=task.trainer_metrics(splits.label_names, cfg.task.threshold),
            callbacks=callbacks + trackers,
        )
        use_quiet_progress(trainer)  # one line per evaluation instead of Trainer's dictionaries
        started = time.perf_counter()
        with freed_memory_kept(pays_for(model)):  # large models: no page faults for each step's tensors
            output = trainer.train(resume_from_checkpoint=resume_from)
        seconds = time.perf_counter() - started
    train_metrics = (output.metrics if resume_from is None else
                     resumed_train_metrics(output.metrics, trainer.state.log_history, resume_from,
                                           trainer.state.global_step))
    if main:
        atomic_write_text(run_dir / "log_history.json", json.dumps(trainer.state.log_history, indent=1))
    merged = method.can_merge and cfg.method.merge
    train_metrics["peak_rss_mb"] = peak_rss_mb()
    trained = plain_dropout(plain_model(trainer.model))
    return Fitted(
        model=method.merge(trained) if merged else trained, trainable=trainable, total=total,
        merged=merged, train_seconds=seconds, train_metrics=train_metrics, best=trainer.state.best_metric,
        best_step=trainer.state.best_global_step,
        steps=trainer.state.global_step, epochs=trainer.state.epoch or 0.0, log_history=trainer.state.log_history,
        new_parameters=built.new_parameters,
    )


def _fit_own_recipe(cfg, method, model_path, tokenizer, splits, max_length) -> Fitted:
    """Methods with a recipe of their own (zero-shot, contrastive few-shot, in-context) build the model."""
    started = time.perf_counter()
    model, facts = method.fit(model_path, tokenizer, splits, cfg, max_length)
    seconds = time.perf_counter() - started
    total = sum(p.numel() for p in model.parameters())
    trainable = total if method.trains_weights else 0
    log.info("method %s: built in %s", cfg.method.name, format_seconds(seconds))
    return Fitted(model=model, trainable=trainable, total=total, merged=True, train_seconds=seconds,
                  train_metrics={"train_runtime": seconds}, facts=facts)


def finished_run(run_dir: Path, started: float) -> RunResult:
    """The result of a run that finished earlier, read back from its folder (``metrics.json`` and bundle)."""
    metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    split = metrics.pop("split", "test")
    best = metrics.pop("best_validation", {}) or {}
    train_metrics = metrics.pop("train", {}) or {}
    predictor = Predictor.load(run_dir / "bundle")
    method = predictor.manifest.method
    metric, best_value = next(iter(best.items()), ("", None))
    return RunResult(run_dir, run_dir / "bundle", metrics, split, time.perf_counter() - started, predictor,
                     train_metrics.get("train_runtime", 0.0), method.trainable_parameters,
                     method.total_parameters, best_value, metric)


@dataclass
class Prepared:
    """Step 1's output: what the run trains on and with."""

    task: Any
    method: Any
    metric: str
    model_path: str
    splits: Any
    tokenizer: Any
    max_length: int


@dataclass
class Evaluated:
    """Step 3's output: the model's predictor, metrics and predictions on the evaluation split."""

    predictor: Predictor
    split: str
    examples: list[dict[str, Any]]
    metrics: dict[str, Any]
    predictions: list[dict[str, Any]]
    bf16_check: dict[str, Any] | None = None  # the bf16 inference parity gate (where it was measured)


def prepare(cfg: RunConfig, few_shot_seed: int | None = None) -> Prepared:
    """Step 1: task, method and metric checked; backbone found (before any data is read); data read,
    checked and split; the tokenizer the method's model reads with loaded."""
    task = get_task(cfg.task.type).with_options(cfg.task)
    method = METHODS.get(cfg.method.name)()
    check_model_family(cfg.method.name, task)
    method.check_task(task, cfg)
    metric = cfg.eval.metric or task.checkpoint_metric
    if metric not in task.trainer_metric_names:
        raise ConfigError(f"eval.metric {metric!r} is not computed for {task.name}; choose one of "
                          f"{', '.join(task.trainer_metric_names)}")
    model_path = resolve_backbone(backbone_name(cfg, task))
    splits = load_splits(cfg.data, task, few_shot_seed=few_shot_seed)
    apply_data_section(cfg.data, splits, model_path)
    log.info("data: %d train, %d validation, %s test examples; %d labels", len(splits.train), len(splits.validation),
             len(splits.test) if splits.test else "no", len(splits.label_names))
    tokenizer = task.load_processor(method, cfg.method, model_path)
    task.prepare_tokenizer(tokenizer)
    max_length = cfg.model.max_length or task.default_max_length
    quick_data_check(task, splits, tokenizer, max_length)
    return Prepared(task, method, metric, model_path, splits, tokenizer, max_length)


def fit(cfg: RunConfig, prep: Prepared, run_dir: Path, resume_from: str | None, callbacks=()) -> Fitted:
    """Step 2: train (Trainer, or the method's own recipe); adapters merged where the method can."""
    if prep.method.uses_trainer:
        return _fit_with_trainer(cfg, prep.task, prep.method, prep.model_path, prep.tokenizer, prep.splits,
                                 prep.max_length, prep.metric, run_dir / "checkpoints", resume_from, run_dir, callbacks)
    if cfg.train.adversarial:
        raise ConfigError(f"train.adversarial needs a method trained by gradient steps on Trainer; {cfg.method.name} "
                          "builds its model by a recipe of its own")
    return _fit_own_recipe(cfg, prep.method, prep.model_path, prep.tokenizer, prep.splits, prep.max_length)


def manifest_of(cfg: RunConfig, prep: Prepared, fitted: Fitted) -> Manifest:
    """What the bundle's manifest says about the run (``bundle.py`` adds versions and hashes)."""
    return Manifest.model_validate({
        "task": {**cfg.task.model_dump(mode="json"), "label_names": prep.splits.label_names,
                 "max_length": prep.max_length},
        "data": {k: v for k, v in cfg.data.model_dump(mode="json").items() if k in DataSection.model_fields},
        "train_stats": prep.splits.stats,
        "method": {"name": cfg.method.name, "options": cfg.method.model_dump(mode="json"), "merged": fitted.merged,
                   "trainable_parameters": fitted.trainable, "total_parameters": fitted.total, **fitted.facts},
        "base_model": backbone_reference(backbone_name(cfg, prep.task), prep.model_path),
        "model": {"kind": prep.method.model_kind(cfg.method, fitted.merged)},
    })


def evaluate(prep: Prepared, fitted: Fitted, manifest: Manifest, calibrate: str = "none") -> Evaluated:
    """Step 3: the trained model on the test split (the validation split when there is no test); with
    ``calibrate="temperature"``, temperature scaling fitted on validation first."""
    split, examples = ("test", prep.splits.test) if prep.splits.test else ("validation", prep.splits.validation)
    calibrated = None
    if calibrate == "temperature":
        from ..evaluation.temperature import calibrate_model

        calibrated = calibrate_model(prep.task, fitted.model, prep.tokenizer, prep.splits.label_names,
                                     prep.splits.validation, examples, prep.max_length)
        manifest.task = type(manifest.task).model_validate({**manifest.task.model_dump(),
                                                            "temperature": calibrated["temperature"]})
    predictor = Predictor(fitted.model, prep.tokenizer, manifest)
    metrics, predictions = predictor.evaluate(examples)
    if calibrated:
        metrics["temperature_scaling"] = calibrated
    if resolve_precision("auto").bf16:  # measured where auto picks bf16 (elsewhere auto means fp32 anyway)
        manifest.inference = check_bf16_inference(predictor, examples)
        predictor.precision = inference_precision(manifest)
    if prep.task.compares_with_base_model:
        before, base_predictions = base_model_evaluation(prep, manifest, examples)
        metrics["baseline"] = {"name": "base model, before fine-tuning", **headline(before)}
        for prediction, base in zip(predictions, base_predictions):
            prediction["before"] = base.get("text", "")
    return Evaluated(predictor, split, examples, metrics, predictions, (manifest.inference or {}).get("bf16"))


def base_model_evaluation(prep: Prepared, manifest: Manifest, examples: list[dict[str, Any]]):
    """The untrained base model evaluated like the trained one (same data, prompts and decoding)."""
    log.info("evaluating the base model on the same %d examples (the report's before column)", len(examples))
    base = prep.task.build_model(prep.model_path, prep.splits.label_names).model
    metrics, predictions = Predictor(base, prep.tokenizer, manifest).evaluate(examples)
    del base
    return metrics, predictions


def with_resolved_precision(cfg: RunConfig):
    """``cfg`` with ``train.precision`` resolved for this CPU (``auto`` -> fp32 or bf16), and the choice."""
    precision = resolve_precision(cfg.train.precision)
    return cfg.model_copy(update={"train": cfg.train.model_copy(update={"precision": precision.name})}), precision


def train_as_worker(cfg: RunConfig, run_dir: Path, callbacks=None) -> None:
    """Ranks above 0 of a distributed run: the same preparation and training as rank 0, writing nothing."""
    from transformers import set_seed

    logging.getLogger("tuneforge").setLevel(logging.WARNING)  # rank 0 tells the story
    resume_from = newest_complete_checkpoint(run_dir / "checkpoints") if cfg.train.resume else None
    if cfg.train.resume and resume_from is None and (run_dir / "bundle" / MANIFEST).is_file():
        return None  # finished already (rank 0 says so)
    cfg, _ = with_resolved_precision(cfg)
    set_seed(cfg.train.seed)
    fit(cfg, prepare(cfg), run_dir, resume_from, callbacks or ())
    end_process_group()
    return None


def train_run(cfg: RunConfig, few_shot_seed: int | None = None, callbacks: list | None = None,
              save_model: bool = True) -> RunResult:
    """Train, evaluate and bundle the model described by ``cfg``; see ``tuneforge.api.train``.

    The steps: prepare -> fit -> evaluate -> report -> bundle. ``few_shot_seed`` samples
    ``data.few_shot.per_class`` training examples per class with that seed. ``callbacks`` are extra
    Trainer callbacks (search pruning, time limits); ``save_model=False`` writes the metrics and
    reports but no bundle (a search trial). In a distributed run, ranks above 0 return None.
    """
    from transformers import set_seed

    started = time.perf_counter()
    run_dir = resolve_run_dir(cfg)
    if world()[1] > 1:  # launched by torchrun or accelerate
        check_distributable(cfg, world()[1])
    if not is_main_process():
        return train_as_worker(cfg, run_dir, callbacks)
    checkpoints = run_dir / "checkpoints"
    run_dir.mkdir(parents=True, exist_ok=True)
    remove_stale(run_dir)  # what a killed run left: checkpoints being deleted, half-written temporary files
    (run_dir / "FAILED").unlink(missing_ok=True)  # an earlier failure in this folder no longer describes it
    handler = attach_log_file(run_dir)
    try:
        resume_from = last_complete_checkpoint(checkpoints) if cfg.train.resume else None
        if cfg.train.resume and resume_from is None:
            if (run_dir / "bundle" / MANIFEST).is_file() and (run_dir / "metrics.json").is_file():
                log.info("%s finished already (no checkpoint left to resume from): its bundle is %s",
                         run_dir, run_dir / "bundle")
                return finished_run(run_dir, started)
            log.warning("%s holds no complete checkpoint: training from the start", checkpoints)
        elif resume_from:
            log.info("resuming from %s", resume_from)
        cfg, precision = with_resolved_precision(cfg)
        dump_config(cfg, run_dir / "config.yaml")  # resolved: says what this run computed in
        set_seed(cfg.train.seed)
        prep = prepare(cfg, few_shot_seed)
        log.info("precision: %s (%s)", precision.name, precision.reason)  # once the data and model are known good
        fitted = fit(cfg, prep, run_dir, resume_from, callbacks or ())
        end_process_group()  # a distributed run: rank 0 goes on alone
        if prep.method.uses_trainer or prep.method.trains_weights:
            fitted.facts.setdefault("precision", f"{precision.name} ({precision.reason})")
        manifest = manifest_of(cfg, prep, fitted)
        ev = evaluate(prep, fitted, manifest, cfg.eval.calibrate)
        extra_files = after_evaluation(cfg, prep, ev, save_model)  # robustness; the reference profile
        markdown = report(cfg, prep, fitted, ev, run_dir)
        manifest.metrics = {"split": ev.split, **headline(ev.metrics)}
        bundle_dir = save_bundle(run_dir / "bundle", fitted.model, prep.tokenizer, manifest, markdown,
                                 fitted.new_parameters, extra_files) if save_model else None
        if not cfg.output.keep_checkpoints and checkpoints.is_dir():
            remove_dir(checkpoints)
        wall = time.perf_counter() - started
        task = prep.task
        speed = fitted.train_metrics.get("train_samples_per_second")
        trained = (f"{fitted.steps} steps, {fitted.epochs:.1f} epochs" + (f", {speed:.1f} samples/s" if speed else "")
                   if fitted.steps else f"{cfg.method.name} built its model in {format_seconds(fitted.train_seconds)}")
        log.info(
            "done in %s: %s; %s %s %.4f (baseline %.4f); bundle: %s", format_seconds(wall), trained,
            ev.split, task.default_metric, ev.metrics.get(task.default_metric, 0.0),
            ev.metrics.get("baseline", {}).get(task.default_metric, 0.0), bundle_dir,
        )
        return RunResult(run_dir, bundle_dir, ev.metrics, ev.split, wall, ev.predictor, fitted.train_seconds,
                         fitted.trainable, fitted.total, fitted.best, prep.metric, ev.examples)
    except BaseException as exc:  # the run folder says it failed and why (the console shows the error once)
        record_failure(run_dir, handler, exc)
        raise
    finally:
        for name in ("tuneforge", "transformers"):
            logging.getLogger(name).removeHandler(handler)
        handler.close()
