"""The ``tuneforge`` command line: one command per public API function.

User errors (bad config, bad data, altered bundle) print one ``error:`` line and exit 2.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import typer

from .cli_info import print_version
from .cli_support import (
    BACKEND_HELP,
    PRECISION_HELP,
    _console,
    _fail,
    _run,
    _setup_logging,
    write_lines,
)
from .errors import TuneForgeError

app = typer.Typer(
    add_completion=True,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="TuneForge: fine-tune, evaluate and bundle pretrained models from one config.",
)


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=lambda v: print_version(v), is_eager=True,
                                       help="print the version and exit"),
          verbose: bool = typer.Option(False, "--verbose", "-v",
                                       help="show every library warning and Trainer's raw log lines")) -> None:
    """TuneForge: fine-tune, evaluate and bundle pretrained models from one config."""
    if verbose:
        import os

        from .logs import VERBOSE_ENV

        os.environ[VERBOSE_ENV] = "1"


@app.command()
def train(
    config: Optional[Path] = typer.Argument(None, help="YAML run config, e.g. configs/sst2.yaml"),
    overrides: Optional[list[str]] = typer.Argument(None, help="dotted overrides, e.g. train.epochs=3"),
    resume: Optional[Path] = typer.Option(None, "--resume", help="continue an interrupted run folder"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace the earlier run in output.dir"),
    dry_run: bool = typer.Option(False, "--dry-run", help="show what the run would do (tuneforge check) and stop"),
    nproc: int = typer.Option(1, "--nproc", min=1, help="train data-parallel in N processes (torch.distributed; "
                              "the global batch stays train.batch_size)"),
) -> None:
    """Train, evaluate and bundle a model."""
    from . import api
    from .evaluation.report import print_few_shot, print_metrics

    _setup_logging()
    if config is None and resume is None:
        _fail(TuneForgeError("give a config file (or --resume RUN_DIR)"))
    if dry_run:
        if config is None:
            _fail(TuneForgeError("--dry-run checks a config file; give one"))
        return check(config, overrides, overwrite)
    result = _run(lambda: api.train(config, overrides or [], resume=resume, overwrite=overwrite, nproc=nproc),
                  "interrupted; continue with: tuneforge train --resume RUN_DIR")
    if result is None or os.environ.get("TUNEFORGE_LAUNCHED"):  # a process of --nproc: the launcher reports
        return
    console = _console()
    if isinstance(result, api.FewShotResult):
        print_few_shot(result.summary, console)
        bundles = "\n".join(f"  seed {seed}: {run.bundle_dir}" for seed, run in result.runs.items())
        console.print(f"run folder: {result.run_dir}\nbundles:\n{bundles}\nreport: {result.run_dir / 'report.md'}")
        return
    print_metrics(result.metrics, f"{result.eval_split} metrics", console, result.predictor.task.per_class_title)
    console.print(f"run folder: {result.run_dir}\nbundle: {result.bundle_dir}\n"
                  f"report: {result.run_dir / 'report.html'} (and report.md)")
    if (result.run_dir / "tensorboard").is_dir():
        console.print(f"tensorboard: tensorboard --logdir {result.run_dir / 'tensorboard'}")


@app.command()
def check(
    config: Path = typer.Argument(..., help="YAML run config"),
    overrides: Optional[list[str]] = typer.Argument(None, help="dotted overrides, e.g. train.epochs=3"),
    overwrite: bool = typer.Option(False, "--overwrite", help="the run would replace output.dir"),
) -> None:
    """Read and split the data as train would and show the plan (resolved config, split sizes, label
    counts, steps per epoch, warnings) without training."""
    from . import api

    _setup_logging()
    plan = _run(lambda: api.check(config, overrides or [], overwrite=overwrite), "interrupted")
    _console().print(plan.render(), markup=False, highlight=False, soft_wrap=True)


def parse_duration(text: str) -> float:
    """Seconds from ``90``, ``90s``, ``40m`` or ``1.5h``."""
    units = {"s": 1, "m": 60, "h": 3600}
    text = text.strip().lower()
    scale = units.get(text[-1:], None)
    number = text[:-1] if scale else text
    try:
        seconds = float(number) * (scale or 1)
    except ValueError:
        raise TuneForgeError(f"not a duration: {text!r} (try 2400, 40m or 1h)") from None
    if seconds <= 0:
        raise TuneForgeError(f"a duration must be positive, not {text!r}")
    return seconds


@app.command()
def tune(
    config: Path = typer.Argument(..., help="YAML run config with an optional tune.space section"),
    overrides: Optional[list[str]] = typer.Argument(None, help="dotted overrides, e.g. data.max_train_samples=8000"),
    trials: int = typer.Option(20, "--trials", "-n", help="finished trials the study should hold"),
    timeout: Optional[str] = typer.Option(None, "--timeout", help="time for the whole search: 2400, 40m, 1h"),
    storage: Optional[str] = typer.Option(None, "--storage", envvar="TUNEFORGE_TUNE_STORAGE",
                                          help="Optuna storage shared by every worker: "
                                          "postgresql://USER:PASSWORD@HOST/DB, sqlite:///FILE or journal:FILE "
                                          "(default: study.db in the tune folder)"),
    workers: int = typer.Option(1, "--workers", min=1, help="local worker processes on the study"),
) -> None:
    """Search hyperparameters with Optuna (TPE + median pruning); rerun the same command to resume.
    Processes (here or on other machines) run with the same --storage share the study's trials."""
    from . import api

    _setup_logging()
    seconds = _run(lambda: parse_duration(timeout) if timeout else None, "interrupted")
    result = _run(lambda: api.tune(config, overrides or [], trials=trials, timeout=seconds, storage=storage,
                                   workers=workers),
                  "interrupted; run the same command again to resume the study")
    console = _console()
    console.print((result.tune_dir / "trials.md").read_text(encoding="utf-8"), markup=False, highlight=False,
                  soft_wrap=True)
    default = "n/a" if result.default_value is None else f"{result.default_value:.4f}"
    console.print(f"best validation {result.metric}: {result.best_value:.4f} (trial {result.best_trial}); "
                  f"config's own values: {default}", soft_wrap=True)
    console.print(f"best config: {result.best_config}\ntrials: {result.tune_dir / 'trials.md'}\n"
                  f"study: {result.storage}\nplots: {result.tune_dir}/*.png", soft_wrap=True)


@app.command()
def compare(
    config: Path = typer.Argument(..., help="YAML run config: the data and task to compare methods on"),
    overrides: Optional[list[str]] = typer.Argument(None, help="dotted overrides, e.g. data.max_train_samples=16000"),
    methods: Optional[str] = typer.Option(None, "--methods",
                                          help="comma-separated method names (default: those each method marks "
                                               "for comparison; see the README)"),
    budget: str = typer.Option("30m", "--budget", help="time for all methods together: 1800, 30m, 1h"),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="folder (default runs/<name>-compare)"),
    tolerance: float = typer.Option(1.0, "--tolerance", help="score points a cheaper method may give up"),
) -> None:
    """Train several methods within a time budget, compare their cost and score, and recommend one."""
    from . import api

    _setup_logging()
    names = [m.strip() for m in (methods or "").split(",") if m.strip()] or None
    result = _run(lambda: api.compare(config, overrides or [], names, parse_duration(budget), output, tolerance),
                  "interrupted; the methods that finished are in comparison.json")
    from rich.table import Table

    from .tuning.advisor_report import HEADER, _cells

    table = Table(title=f"method comparison ({result.metric})")
    for column in HEADER:
        table.add_column(column, justify="left" if column == "method" else "right")
    for row in result.rows:
        table.add_row(*_cells(row), style="bold" if row["method"] == result.recommended else None)
    console = _console()
    console.print(table)
    console.print(f"recommended: {result.recommended}. {result.reason}.", highlight=False, soft_wrap=True)
    console.print(f"report: {result.out_dir / 'comparison.html'} (and comparison.md, pareto.png)\n"
                  f"bundles: {result.out_dir}/<method>/bundle", soft_wrap=True)


@app.command()
def predict(
    bundle: Path = typer.Argument(..., help="bundle folder written by train"),
    text: Optional[list[str]] = typer.Option(None, "--text", "-t", help="a text to predict (repeatable)"),
    text_pair: Optional[list[str]] = typer.Option(None, "--text-pair", help="second text of a pair (repeatable)"),
    input: Optional[Path] = typer.Option(None, "--input", "-i", help="file of inputs: .txt (one per line), csv, tsv, jsonl, conll"),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="write JSONL here instead of stdout"),
    data_format: Optional[str] = typer.Option(None, "--format", help="input format when the extension does not tell"),
    backend: str = typer.Option("torch", "--backend", help=BACKEND_HELP),
    text_column: Optional[str] = typer.Option(None, "--text-column", help="the input file's text column (default: training's)"),
    text_pair_column: Optional[str] = typer.Option(None, "--text-pair-column", help="its second-text column, for pairs"),
    precision: str = typer.Option("auto", "--precision", help=PRECISION_HELP),
    mask_pii: Optional[list[str]] = typer.Option(None, "--mask-pii", help="mask this kind of personal data in the "
                                                 "texts the output repeats (repeatable): email, phone, credit_card, "
                                                 "iban, ip, url"),
) -> None:
    """Predict texts with a bundle; writes one JSON line per input."""
    from . import api

    _setup_logging()
    results = _run(lambda: api.predict(bundle, texts=text, input_path=input, text_pairs=text_pair,
                                       data_format=data_format, backend=backend, precision=precision,
                                       columns={"text_column": text_column, "text_pair_column": text_pair_column},
                                       mask_pii=mask_pii))
    write_lines(results, output, "predictions")


@app.command()
def evaluate(
    bundle: Path = typer.Argument(..., help="bundle folder written by train"),
    data: Path = typer.Option(..., "--data", "-d", help="labelled data file"),
    data_format: Optional[str] = typer.Option(None, "--format", help="data format when the extension does not tell"),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="write metrics.json and report.md in this folder"),
    backend: str = typer.Option("torch", "--backend", help=BACKEND_HELP),
    text_column: Optional[str] = typer.Option(None, "--text-column", help="the input file's text column (default: training's)"),
    text_pair_column: Optional[str] = typer.Option(None, "--text-pair-column", help="its second-text column, for pairs"),
    label_column: Optional[str] = typer.Option(None, "--label-column", help="its label column (default: training's)"),
    precision: str = typer.Option("auto", "--precision", help=PRECISION_HELP),
    robustness: bool = typer.Option(False, "--robustness", help="also the metric under seeded noise: typos, case, "
                                    "punctuation, word drop, synonyms (entity swap for entities)"),
) -> None:
    """Evaluate a bundle on a labelled data file; --output also writes metrics.json, report.md and report.html."""
    from . import api
    from .evaluation.report import print_metrics

    _setup_logging()
    metrics = _run(lambda: api.evaluate(bundle, data, data_format, backend=backend, output=output,
                                        precision=precision, columns={"text_column": text_column,
                                                                      "text_pair_column": text_pair_column,
                                                                      "label_column": label_column},
                                        robustness=robustness))
    from .bundle import read_manifest
    from .tasks import get_task

    task = get_task(read_manifest(bundle, verify=False).task.type)
    print_metrics(metrics, f"{data}", _console(), task.per_class_title)
    if robustness:
        from .evaluation.report import print_robustness

        print_robustness(metrics["robustness"], _console())
    if output is not None:
        _console().print(f"metrics and reports in {output} (report.html, report.md, metrics.json)")


@app.command()
def export(
    bundle: Path = typer.Argument(..., help="bundle folder written by train"),
    data: Optional[Path] = typer.Option(None, "--data", "-d", help="labelled evaluation data for the parity check "
                                        "(default: the test, else validation, file of the bundle's run)"),
    data_format: Optional[str] = typer.Option(None, "--format", help="data format when the extension does not tell"),
    quantize: bool = typer.Option(True, "--quantize/--no-quantize", help="also write a dynamic int8 variant"),
    max_drop: float = typer.Option(1.0, "--max-drop", help="largest accuracy drop (points) a variant may cost"),
    static_int8: bool = typer.Option(False, "--static-int8", help="also ONNX Runtime static int8 (QDQ, calibrated)"),
    openvino: bool = typer.Option(False, "--openvino", help="also OpenVINO fp32 and int8-weight variants"),
) -> None:
    """Export a bundle to ONNX (and optionally OpenVINO), checked against the PyTorch model on real data."""
    from . import api

    _setup_logging()
    section = _run(lambda: api.export(bundle, data, data_format, quantize=quantize, max_drop=max_drop,
                                      static_int8=static_int8, openvino=openvino))
    metric = next((k[len("torch_"):] for k in section if k.startswith("torch_")), None)
    from rich.table import Table

    table = Table(title=f"Export of {bundle}")
    for column in ("variant", "MB", "max |logit diff|", "same prediction", "score", "drop (points)", "accepted"):
        table.add_column(column)
    for name, row in section["variants"].items():
        score = row.get(metric)
        table.add_row(name, f"{row['mb']:.1f}", f"{row['max_abs_diff']:.2e}", f"{100 * row['agreement']:.2f}%",
                      "-" if score is None else f"{score:.4f}", str(row.get("drop_points", "-")),
                      "yes" if row.get("accepted", True) else "no")
    console = _console()
    console.print(table)
    console.print(f"default variant: {section['default']}; files in {bundle / 'onnx'}")


@app.command()
def compress(
    bundle: Path = typer.Argument(..., help="bundle folder written by train"),
    steps: str = typer.Option("distill,quantize,export", "--steps",
                              help="comma-separated, in order: distill, prune, quantize, export"),
    max_drop: float = typer.Option(1.0, "--max-drop", help="reject a step whose score drops more points than this"),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="output bundle folder (default: <run>/compressed)"),
    data: Optional[Path] = typer.Option(None, "--data", "-d", help="labelled evaluation data (default: the run's test/validation file)"),
    train_data: Optional[Path] = typer.Option(None, "--train", help="training data for distillation (default: the run's)"),
    layers: int = typer.Option(3, "--layers", help="encoder layers the distilled student keeps"),
    student: Optional[str] = typer.Option(None, "--student", help="a smaller model folder to distil into instead"),
    epochs: float = typer.Option(1.0, "--distill-epochs", help="distillation epochs"),
    max_train_samples: Optional[int] = typer.Option(None, "--max-train-samples", help="distil on at most this many examples"),
    unlabelled: Optional[Path] = typer.Option(None, "--unlabelled", help="extra texts (one per line) to distil on"),
    prune: str = typer.Option("magnitude:0.5", "--prune", help="magnitude:SPARSITY or layers:COUNT"),
    recovery_epochs: float = typer.Option(1.0, "--recovery-epochs", help="fine-tuning epochs after pruning"),
) -> None:
    """Distil, quantize and export a bundle; every step is evaluated and rejected past --max-drop."""
    from . import api
    from .compress.pipeline import render_table

    _setup_logging()
    names = [s.strip() for s in steps.split(",") if s.strip()]
    report = _run(lambda: api.compress(bundle, names, output, data, train_data, max_drop=max_drop,
                                       max_train_samples=max_train_samples,
                                       distill_options={"layers": layers, "student_model": student, "epochs": epochs},
                                       prune_options={"spec": prune, "epochs": recovery_epochs},
                                       unlabelled_data=unlabelled))
    console = _console()
    console.print(render_table(report["rows"], report["metric"]))
    rejected = [r["variant"] for r in report["rows"] if not r["accepted"]]
    if rejected:
        console.print(f"rejected (drop over {max_drop} points): {', '.join(rejected)}")
    from .outputs import compress_folder

    console.print(f"final variant: {report['final']}; bundle: {compress_folder(bundle, output)}")


from .cli_continue import continue_  # noqa: E402  (the commands register below)
from .cli_data import data_app  # noqa: E402
from .cli_explain import explain  # noqa: E402
from .cli_generation import chat, generate  # noqa: E402
from .cli_info import env, methods, tasks  # noqa: E402
from .cli_monitor import monitor  # noqa: E402
from .cli_registry import registry_app  # noqa: E402
from .cli_serve import serve  # noqa: E402
from .cli_ui import ui  # noqa: E402

for command in (serve, monitor, generate, chat, explain, env, methods, tasks, ui):
    app.command()(command)
app.command("continue")(continue_)
app.add_typer(data_app, name="data")
app.add_typer(registry_app, name="registry")


def main() -> None:
    """Entry point of the ``tuneforge`` script."""
    app()


@app.command()
def init(
    data_file: Path = typer.Argument(..., help="your data: csv, tsv, jsonl, json or CoNLL"),
    task: Optional[str] = typer.Option(None, "--task", help="the task, when the guess is wrong (see tuneforge tasks)"),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="config to write (default: DATA.yaml beside it)"),
    data_format: Optional[str] = typer.Option(None, "--format", help="csv, tsv, jsonl, json or conll"),
    force: bool = typer.Option(False, "--force", help="replace an existing config file"),
) -> None:
    """Look at a data file and write a commented starter config sized to it, then print how to run it."""
    from .starter_config import write_starter_config

    _setup_logging()
    path, starter = _run(lambda: write_starter_config(data_file, output, task, data_format, force), "interrupted")
    console = _console()
    console.print(starter.text, markup=False, highlight=False, soft_wrap=True)
    console.print(f"wrote {path} (task {starter.task}, method {starter.method}); next:\n"
                  f"  tuneforge check {path}    # what the run would do\n"
                  f"  tuneforge train {path}", markup=False, highlight=False, soft_wrap=True)
