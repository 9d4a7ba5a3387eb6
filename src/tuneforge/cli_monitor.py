"""``tuneforge monitor``: drift of captured traffic (a capture folder) or of a running server (a URL)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .cli_support import _console, _run, _setup_logging


def monitor(
    source: str = typer.Argument(..., help="a capture folder (serve --capture DIR) or a server URL"),
    bundle: Optional[Path] = typer.Option(None, "--bundle", "-b", help="the bundle whose profile the capture is "
                                                                       "compared with (capture folders)"),
    output: Path = typer.Option(Path("drift-report"), "--output", "-o", help="report folder (drift.html, drift.json)"),
    window: int = typer.Option(500, "--window", min=10, help="rows per timeline window"),
    last: Optional[int] = typer.Option(None, "--last", min=1, help="only the newest N captured rows"),
    export_for_labelling: Optional[Path] = typer.Option(None, "--export-for-labelling", help="also write the "
                                                        "captured texts, least confident first, as a CSV to label "
                                                        "(then: tuneforge continue BUNDLE --data it)"),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="rows in the labelling export"),
) -> None:
    """A drift report from captured traffic against a bundle's reference profile, or a running server's
    drift scores; optionally the texts to label next."""
    _setup_logging()
    console = _console()
    if source.startswith(("http://", "https://")):
        import httpx
        from prometheus_client.parser import text_string_to_metric_families

        text = _run(lambda: httpx.get(source.rstrip("/") + "/metrics", timeout=30).text)
        gauges = {f.name: {s.labels["signal"]: s.value for s in f.samples} for f in text_string_to_metric_families(text)
                  if f.name in ("tuneforge_drift_score", "tuneforge_drift_threshold")}
        score, limit_of = gauges.get("tuneforge_drift_score", {}), gauges.get("tuneforge_drift_threshold", {})
        if not score:
            console.print("no drift scores yet (the window fills after 200 predictions, and the bundle needs a "
                          "reference profile)")
        for name, value in sorted(score.items()):
            threshold = limit_of.get(name, float("nan"))
            console.print(f"{name}: {value:.4f} (threshold {threshold:.4f})"
                          + (" [bold red]DRIFT[/]" if value > threshold else ""))
        return
    if bundle is None:
        from .cli_support import _fail
        from .errors import ConfigError

        _fail(ConfigError("give --bundle: the bundle whose reference profile the capture is compared with"))
    from .monitoring.report import drift_report
    from .monitoring.report import export_for_labelling as export

    report = _run(lambda: drift_report(source, bundle, output, window, last))
    over = [k for k, v in report["overall"].items() if v > report["thresholds"][k]]
    console.print(f"{report['rows']} captured rows; drift: " + ", ".join(
        f"{k} {v:.4f}/{report['thresholds'][k]:.4f}" for k, v in report["overall"].items())
        + (f" -> [bold red]over threshold: {', '.join(over)}[/]" if over else " -> within thresholds"))
    console.print(f"report: {Path(output) / 'drift.html'} (and drift.json)", highlight=False)
    if export_for_labelling is not None:
        n = _run(lambda: export(source, bundle, export_for_labelling, limit))
        console.print(f"{n} texts to label, least confident first: {export_for_labelling}", highlight=False)
