"""Public Python API: the CLI is a thin layer over these functions.

Example:
    >>> from tuneforge import api
    >>> result = api.train("configs/demo.yaml", ["train.epochs=1"])
    >>> api.predict(result.bundle_dir, texts=["where is my parcel?"])[0]["label"]
    'shipping'
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .bundle import Manifest
from .config import RunConfig, build_config, load_config
from .data.examples import DataColumns, read_plain_texts, read_task_file
from .data.text import text_problem
from .errors import ConfigError
from .explain import explain  # noqa: F401  (api.explain: the explanations' public function)
from .logs import api_logging
from .outputs import claimed_run_config, resumed_run_config
from .predictor import Predictor
from .run_files import run_data_files
from .tasks import get_task
from .training import FewShotResult, RunResult, few_shot_run, train_run
from .training.distributed import is_main_process


def train(config: RunConfig | str | Path, overrides: list[str] | None = None,
          resume: str | Path | None = None, overwrite: bool = False, nproc: int = 1) -> RunResult | FewShotResult:
    """Train, evaluate and bundle a model from a config (object or YAML path) plus dotted overrides.

    ``resume`` names an earlier run folder: its resolved ``config.yaml`` is reused and training
    continues from its last checkpoint. An ``output.dir`` that holds an earlier run is refused unless
    ``overwrite`` (which empties it first). With ``data.few_shot`` there is one run per seed and the
    result is a ``FewShotResult`` (every seed's run plus mean and standard deviation). ``nproc`` > 1
    trains data-parallel in that many processes (same global batch; ``config``: a file).
    """
    api_logging()
    if nproc > 1:
        from .training.launch import launch_run

        return launch_run(config, overrides or [], resume, overwrite, nproc)
    cfg = resumed_run_config(resume, overrides) if resume is not None else _config(config, overrides)
    if not cfg.train.resume and is_main_process():  # in a distributed run, rank 0 claims the folder
        cfg = claimed_run_config(cfg, overwrite)
    if cfg.data.few_shot is not None:
        if cfg.train.resume:
            raise ConfigError("few-shot runs cannot be resumed; start them again (each seed takes little time)")
        return few_shot_run(cfg)
    return train_run(cfg)


def check(config: RunConfig | str | Path, overrides: list[str] | None = None, overwrite: bool = False):
    """What ``train`` would do with this config, without training or writing anything: the resolved
    config, split sizes, label counts, steps per epoch, evaluations and every warning (a ``RunPlan``;
    ``plan.render()`` is what ``tuneforge check`` prints).

    Example:
        >>> plan = api.check("configs/demo.yaml")
        >>> plan.split_sizes
        {'train': 288, 'validation': 36, 'test': 36}
    """
    api_logging()
    from .training.dry_run import plan_run

    return plan_run(_config(config, overrides), overwrite=overwrite)


def _config(config: RunConfig | str | Path, overrides: list[str] | None) -> RunConfig:
    if isinstance(config, RunConfig):
        return build_config(config.model_dump(mode="json"), overrides) if overrides else config
    return load_config(config, overrides)


def tune(config: RunConfig | str | Path, overrides: list[str] | None = None, trials: int = 20,
         timeout: float | None = None, storage: str | None = None, workers: int = 1):
    """Search hyperparameters (``tune.space`` of the config) with Optuna; resumable.

    Runs until the study holds ``trials`` finished trials or ``timeout`` seconds have been spent in all
    (called again, it continues); writes ``best_config.yaml``, ``trials.md``/``.json``, ``summary.json``
    and plots. Processes given the same ``storage`` (an Optuna URL or ``journal:PATH``) share the study;
    ``workers`` > 1 starts that many local ``tuneforge tune`` processes on it (``config``: a file).

    Example:
        >>> api.tune("configs/sst2_tune.yaml", trials=12, timeout=2400).best_config
        PosixPath('runs/sst2_tune-tune/best_config.yaml')
    """
    api_logging()
    from .tuning.workers import search

    return search(_config(config, overrides), config, list(overrides or []), trials, timeout, storage, workers)


def compare(config: RunConfig | str | Path, overrides: list[str] | None = None, methods: list[str] | None = None,
            budget_seconds: float = 1800, output: str | Path | None = None, tolerance: float = 1.0):
    """Train each method on the config's data within an equal share of the budget and recommend one.

    Writes ``comparison.{json,md,html}`` and ``pareto.png`` (default folder ``runs/<name>-compare``),
    plus one run folder with a bundle per method. The recommendation is the cheapest method within
    ``tolerance`` accuracy points of the best.

    Example:
        >>> result = api.compare("configs/sst2.yaml", methods=["full", "lora", "setfit"], budget_seconds=1800)
        >>> result.recommended
        'lora'
    """
    api_logging()
    from .tuning.advisor import compare_methods, default_methods

    return compare_methods(_config(config, overrides), list(methods or default_methods()), budget_seconds,
                           Path(output) if output is not None else None, tolerance)


def read_inputs(path: str | Path, manifest: Manifest, data_format: str | None = None,
                require_labels: bool = False, columns: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Read a file of inputs the way the bundle's task reads its data, with the bundle's column names
    (``columns`` renames some: ``text_column``, ``text_pair_column``, ``label_column``).

    Without labels, ``.txt`` is one text per line (``data_format`` names another reading, such as
    ``conll`` for entity tagging).
    """
    path = Path(path)
    task = get_task(manifest.task.type)
    if path.suffix.lower() == ".txt" and data_format is None and not require_labels:
        return read_plain_texts(path)
    unknown = sorted(set(columns or {}) - {"text_column", "text_pair_column", "label_column"})
    if unknown:
        raise ConfigError(f"unknown column setting {unknown[0]!r}: give text_column, text_pair_column or label_column")
    names = {**manifest.data.model_dump(), **{k: v for k, v in (columns or {}).items() if v}}
    return read_task_file(task, path, data_format, DataColumns.of(names), require_labels,
                          format_setting="--format (data_format in the Python API)")


def predict(
    bundle: str | Path | Predictor,
    texts: list[str] | None = None,
    input_path: str | Path | None = None,
    text_pairs: list[str] | None = None,
    data_format: str | None = None,
    backend: str = "torch",
    precision: str = "auto",
    columns: dict[str, str] | None = None,
    mask_pii: list[str] | None = None,
) -> list[dict[str, Any]]:
    """Predict texts given directly or read from a file; one dict per input (with its text).

    ``mask_pii`` (e.g. ``["email", "phone"]``): the texts echoed in the output have that personal data
    masked (the model still reads them whole).
    ``backend="onnx"`` runs the bundle's ONNX export (see ``export``); ``precision`` (torch backend):
    ``auto`` (bf16 where the CPU has it and the bundle passed its bf16 parity gate), ``fp32``, ``bf16``.
    ``columns`` names the input file's columns where they differ from training's (``text_column``,
    ``text_pair_column``, ``label_column``).
    """
    api_logging()
    predictor = bundle if isinstance(bundle, Predictor) else Predictor.load(bundle, backend=backend,
                                                                             precision=precision)
    examples: list[dict[str, Any]] = []
    if texts and predictor.task.reads_images:
        raise ConfigError("this bundle classifies images: give --input IMAGE, a folder of images, IDX files or a "
                          "table of image paths (input_path in the Python API)")
    if texts:
        pairs = text_pairs or [None] * len(texts)
        if len(pairs) != len(texts):
            raise ConfigError(f"got {len(texts)} texts but {len(pairs)} text pairs")
        for kind, values in (("text", texts), ("text pair", pairs)):
            for number, value in enumerate(values, start=1):
                problem = text_problem(value) if value is not None else None
                if problem:
                    raise ConfigError(f"{kind} {number} {problem}")
        examples += [{"text": t, "text_pair": p} for t, p in zip(texts, pairs)]
    if input_path is not None:
        examples += read_inputs(input_path, predictor.manifest, data_format, columns=columns)
    if not examples:
        raise ConfigError("nothing to predict: give --text or --input")
    needs_pair = bool(predictor.manifest.data.text_pair_column)
    if needs_pair and any(not e.get("text_pair") for e in examples if "tokens" not in e):
        raise ConfigError("this model classifies text pairs: give a --text-pair for every --text")
    predictions = predictor.predict(examples)
    from .data.pii import text_masker

    mask = text_masker(mask_pii)
    out = []
    for example, prediction in zip(examples, predictions):
        source = {"text": mask(example["text"])} if "text" in example else {}
        if example.get("text_pair"):
            source["text_pair"] = mask(example["text_pair"])
        out.append({**source, **prediction})
    return out


def evaluate(bundle: str | Path | Predictor, data: str | Path, data_format: str | None = None,
             backend: str = "torch", output: str | Path | None = None, precision: str = "auto",
             columns: dict[str, str] | None = None, robustness: bool = False) -> dict[str, Any]:
    """Metrics of a bundle on a labelled data file (training's columns, or ``columns`` as for
    ``predict``); ``backend`` torch or onnx; ``precision`` as for ``predict``.

    With ``robustness``, also the metric under seeded noise (typos, case, punctuation, word drop,
    synonyms; entity swap for entities) in ``metrics["robustness"]`` (``tuneforge.evaluation.robustness``).
    With ``output``, also writes ``metrics.json``, ``report.md`` and ``report.html`` (plots, calibration,
    most confident mistakes, robustness) into that folder.
    """
    api_logging()
    from .bundle import read_manifest

    manifest = bundle.manifest if isinstance(bundle, Predictor) else read_manifest(bundle)
    examples = read_inputs(data, manifest, data_format, require_labels=True,  # bad data fails before the model loads
                           columns=columns)
    predictor = bundle if isinstance(bundle, Predictor) else Predictor.load(bundle, backend=backend,
                                                                             precision=precision)
    predictor.task.check_known_labels(examples, predictor.label_names, "evaluation")
    if not isinstance(bundle, Predictor):
        _warn_training_overlap(bundle, manifest, examples, data)
    metrics, predictions = predictor.evaluate(examples)
    if robustness:
        from .bundled import MODEL_DIR
        from .evaluation.robustness import robustness as robustness_table

        model_dir = None if isinstance(bundle, Predictor) else Path(bundle) / MODEL_DIR
        metrics["robustness"] = robustness_table(predictor, examples, metrics, predictions, model_dir)
    if output is not None:
        from .evaluation.evaluation_files import write_evaluation

        context = {"bundle": str(bundle) if not isinstance(bundle, Predictor) else "(in memory)", "data": str(data),
                   "backend": backend, "method": predictor.manifest.method.name}
        write_evaluation(output, metrics, f"Evaluation on {data}", context, examples, predictions, predictor.task)
    return metrics


def export(bundle: str | Path, data: str | Path | None = None, data_format: str | None = None, quantize: bool = True,
           max_drop: float = 1.0, static_int8: bool = False, openvino: bool = False) -> dict[str, Any]:
    """Export a bundle to ONNX (plus an int8 variant; ``static_int8``: a calibrated static int8 one;
    ``openvino``: OpenVINO fp32 and int8-weight ones), each checked on a labelled data file (default: the
    test, else validation, file of the run that made the bundle); see
    ``tuneforge.export.onnx_export.export_bundle``. Returns the manifest's ``onnx`` section.

    Example:
        >>> api.export("runs/sst2/bundle", "../shared/data/sst2/dev.tsv")["variants"]["fp32"]["max_abs_diff"] < 1e-4
        True
    """
    api_logging()
    from .bundle import read_manifest
    from .export.calibrated import CALIBRATION_EXAMPLES
    from .export.onnx_export import export_bundle
    from .run_files import training_sample

    manifest = read_manifest(bundle)
    if data is None:  # the test (or validation) file of the run that made the bundle, as compress does
        data = run_data_files(bundle)[1]
        if data is None:
            raise ConfigError("give evaluation data (--data FILE): the bundle's run folder does not name any")
    examples = read_inputs(data, manifest, data_format, require_labels=True)
    get_task(manifest.task.type).check_known_labels(examples, manifest.task.label_names, "evaluation")
    calibration, source = training_sample(bundle, manifest, data, CALIBRATION_EXAMPLES) if static_int8 else (None, "")
    return export_bundle(bundle, examples, quantize=quantize, max_drop=max_drop, static_int8=static_int8,
                         openvino=openvino, calibration=calibration, calibration_source=source)


def _warn_training_overlap(bundle, manifest: Manifest, examples: list[dict[str, Any]], data) -> None:
    """Warn when evaluation examples also appear in the training file of the run that made ``bundle``."""
    import logging

    from .data import overlap_with_training

    train_file = run_data_files(bundle)[0]
    if train_file is None or not Path(train_file).is_file():
        return
    try:
        train = read_task_file(get_task(manifest.task.type), train_file, None, DataColumns.of(manifest.data))
    except Exception:  # the training file changed since: no comparison, no failure
        return
    shared = overlap_with_training(examples, train)
    if shared:
        logging.getLogger("tuneforge").warning(
            "%d of %d examples in %s also appear in the training data (%s): the metrics overstate how the model "
            "does on new data", shared, len(examples), data, train_file)


def compress(bundle: str | Path, steps: list[str], output: str | Path | None = None, data: str | Path | None = None,
             train_data: str | Path | None = None, max_drop: float = 1.0, data_format: str | None = None,
             max_train_samples: int | None = None, distill_options: dict[str, Any] | None = None,
             prune_options: dict[str, Any] | None = None, unlabelled_data: str | Path | None = None) -> dict[str, Any]:
    """Distil / quantize / export ``bundle`` step by step, rejecting steps that drop more than ``max_drop`` points.

    ``data`` (evaluation) and ``train_data`` (for distillation) default to the files of the run
    that made the bundle; ``unlabelled_data`` (a .txt file, one text per line) adds texts the student
    learns from the teacher's predictions alone. Returns the report (rows per variant, the final variant).

    Example:
        >>> api.compress("runs/sst2/bundle", ["distill", "quantize", "export"], max_drop=1.0)["final"]
    """
    api_logging()
    from .compress.pipeline import compress_bundle
    from .data.splits import split_examples

    run_train, run_eval = run_data_files(bundle)
    data = data or run_eval
    train_data = train_data or run_train
    if data is None:
        raise ConfigError("give evaluation data (--data FILE): the bundle's run folder does not name any")
    from .bundle import read_manifest

    manifest = read_manifest(bundle)
    task = get_task(manifest.task.type)
    examples = read_inputs(data, manifest, data_format, require_labels=True)
    task.check_known_labels(examples, manifest.task.label_names, "evaluation")
    train = None
    if ("distill" in steps or "prune" in steps) and train_data is not None:
        train = read_inputs(train_data, manifest, data_format, require_labels=True)
        task.check_known_labels(train, manifest.task.label_names, "training")
        if max_train_samples and len(train) > max_train_samples:
            train, _ = split_examples(train, 1 - max_train_samples / len(train), 42)
    if unlabelled_data is not None:  # one text per line: the student learns them from the teacher alone
        distill_options = {**(distill_options or {}), "unlabelled": read_plain_texts(unlabelled_data)}
    from .outputs import compress_folder

    output = compress_folder(bundle, output)
    return compress_bundle(bundle, output, steps, examples, train, max_drop=max_drop, distill_options=distill_options,
                           prune_options=prune_options)


def _conversations(prompts: list[str] | None, input_path: str | Path | None, predictor) -> list[list[dict[str, str]]]:
    from .generation.conversations import prompt_messages

    conversations = [[{"role": "user", "content": p}] for p in prompts or []]
    if input_path is not None:
        conversations += [prompt_messages(e) for e in read_inputs(input_path, predictor.manifest)]
    if not conversations:
        raise ConfigError("nothing to generate: give --prompt or --input")
    for number, messages in enumerate(conversations, start=1):
        problem = text_problem(messages[-1]["content"])
        if problem:
            raise ConfigError(f"prompt {number} {problem}")
    return conversations


def generate(bundle: str | Path | Predictor, prompts: list[str] | None = None, input_path: str | Path | None = None,
             **decoding: Any) -> list[dict[str, Any]]:
    """Answers of a generation bundle to prompts (or to the conversations of a file); ``decoding``
    overrides the bundle's decoding settings (``max_new_tokens``, ``do_sample``, ``temperature``, ...).

    Example:
        >>> api.generate("runs/lima_lora/bundle", prompts=["Name three primary colours."])[0]["text"]
    """
    api_logging()
    from .generation.session import decoding_for, require_generator
    from .generation.session import generate as generate_answers

    predictor = bundle if isinstance(bundle, Predictor) else Predictor.load(bundle)
    require_generator(predictor)
    conversations = _conversations(prompts, input_path, predictor)
    answers = generate_answers(predictor, conversations, decoding_for(predictor, **decoding))
    return [{"prompt": messages[-1]["content"], "text": a.text, "tokens": a.tokens, "finish_reason": a.finish_reason}
            for messages, a in zip(conversations, answers)]


def generate_stream(bundle: str | Path | Predictor, prompt: str, **decoding: Any):
    """The answer to one prompt as an iterator of text pieces (the bundle loads before it returns)."""
    from .generation.session import decoding_for, require_generator, stream_answer

    predictor = bundle if isinstance(bundle, Predictor) else Predictor.load(bundle)
    require_generator(predictor)
    (messages,) = _conversations([prompt], None, predictor)
    return stream_answer(predictor, messages, decoding_for(predictor, **decoding))


def chat_session(bundle: str | Path | Predictor, system: str | None = None, **decoding: Any):
    """A ``ChatSession`` with a generation bundle (``send`` streams an answer and keeps the history)."""
    from .generation.session import ChatSession, decoding_for, require_generator

    predictor = bundle if isinstance(bundle, Predictor) else Predictor.load(bundle)
    require_generator(predictor)
    return ChatSession(predictor, decoding_for(predictor, **decoding), system=system)


def serve(bundle: str | Path, workers: int = 1, on_ready=None, **options: Any) -> None:
    """Serve ``bundle`` over HTTP until SIGTERM (see the README's Serving section); blocks.

    ``options`` are ``ServeSettings`` fields (``host``, ``port``, ``api_keys``, ``bundle_root``, limits).
    The bundle is loaded and checked once here, so a bad one fails in one line before the server
    starts; with one worker the server keeps that model.

    Example:
        >>> api.serve("runs/demo/bundle", port=8000, api_keys=["k-3f9a0c6d1b2e4f5a"], host="0.0.0.0")
    """
    try:
        from .serve import run
        from .serve.app import ServeSettings
    except ImportError:
        raise ConfigError("serving needs fastapi, uvicorn and prometheus-client: pip install 'tuneforge[serve]'") from None
    settings = ServeSettings(bundle=str(bundle), **options)
    from .serve.passing_thread import in_passing_thread

    predictor = in_passing_thread(Predictor.load, bundle, backend=settings.backend, onnx_spinning=False,
                                  precision=settings.precision)  # not on the main thread: see passing_thread
    run(settings, workers=workers, predictor=predictor if workers == 1 else None, on_ready=on_ready)
