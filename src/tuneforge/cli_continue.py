"""``tuneforge continue``: fine-tune a bundle further on new data, with replay, and measure forgetting."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .cli_support import _console, _run, _setup_logging


def continue_(
    bundle: Path = typer.Argument(..., help="bundle folder (in its run folder, beside config.yaml)"),
    data: Path = typer.Option(..., "--data", "-d", help="new labelled data (the run's columns)"),
    replay: float = typer.Option(0.2, "--replay", help="share of the training mix drawn from the original "
                                                      "training data (0: new data only)"),
    max_forgetting: float = typer.Option(1.0, "--max-forgetting", help="largest old-set drop (points) for the "
                                                                      "result to be registered"),
    new_test: float = typer.Option(0.2, "--new-test", help="share of the new data held out to measure the gain"),
    old_test: Optional[Path] = typer.Option(None, "--old-test", help="the old test file (default: the run's)"),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="folder for the new run (default: beside "
                                                                      "the old one, -continued)"),
    register: Optional[str] = typer.Option(None, "--register", help="push the result to the registry as NAME, stage "
                                                                    "candidate (only within --max-forgetting)"),
    registry: Optional[Path] = typer.Option(None, "--registry", help="registry folder (default $TUNEFORGE_REGISTRY "
                                                                     "or ./registry)"),
    anchor: float = typer.Option(0.0, "--anchor", min=0.0, help="pull the weights back towards the bundle's after "
                                 "each step (L2-SP penalty weight, e.g. 0.1; 0: off)"),
    mlflow: Optional[str] = typer.Option(None, "--mlflow", help="register in MLflow's model registry at this URI"),
    overrides: Optional[list[str]] = typer.Argument(None, help="dotted overrides of the run config, e.g. "
                                                               "train.epochs=1"),
) -> None:
    """Continue training a bundle on new data mixed with a replay sample of its training data; report
    forgetting (old test set) and gain (new test split); register only within --max-forgetting."""
    from .continual import continue_training

    _setup_logging()
    report = _run(lambda: continue_training(bundle, data, replay, max_forgetting, new_test, old_test, output,
                                            register, registry, overrides=list(overrides or []), mlflow=mlflow, anchor=anchor))
    console = _console()
    console.print(f"forgetting {report['forgetting_points']:.2f} points (old test), gain {report['gain_points']:.2f} "
                  f"points (new test); bundle: {report['new_bundle']}", highlight=False)
    if report.get("refused"):
        console.print(f"[yellow]{report['refused']}[/]")
    elif report.get("registered"):
        r = report["registered"]
        console.print(f"registered: registry://{r['name']}@{r['version']} (stage {r['stage']})", highlight=False)
