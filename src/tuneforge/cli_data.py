"""``tuneforge data``: check a data set, augment its training split, mask personal data."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .cli_support import _console, _run, _setup_logging

data_app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False,
                       help="Data tools: check a data set, augment it, mask personal data.")


@data_app.command("check")
def check(
    source: Path = typer.Argument(..., help="a run config (its train/validation/test files) or one data file"),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="report folder (default: data-check-NAME)"),
    task: Optional[str] = typer.Option(None, "--task", help="for a data file: the task, when the guess is wrong"),
    data_format: Optional[str] = typer.Option(None, "--format", help="for a data file: csv, tsv, jsonl, json or conll"),
    no_near: bool = typer.Option(False, "--no-near-duplicates", help="skip the MinHash near-duplicate search"),
    no_label_errors: bool = typer.Option(False, "--no-label-errors", help="skip the label-error search"),
    fix: bool = typer.Option(False, "--fix", help="also write a cleaned copy (duplicates and leaked rows dropped) "
                                                  "into OUTPUT/cleaned, with changes.jsonl; the original is kept"),
    drop_suspects: int = typer.Option(0, "--drop-suspects", min=0, help="with --fix: drop the top K suspected "
                                                                        "label errors"),
    relabel_suspects: int = typer.Option(0, "--relabel-suspects", min=0, help="with --fix: relabel the next K "
                                                                              "suspects to the suggested label"),
) -> None:
    """Report what is wrong with a data set: reading problems, lengths and truncation, scripts, labels per
    split, duplicates and train/test leakage, likely label errors (cleanlab), entity tag errors."""
    from .data.commands import check_data

    _setup_logging()
    result = _run(lambda: check_data(source, output, task, data_format, near=not no_near,
                                     label_errors=not no_label_errors, fix=fix, drop_suspects=drop_suspects,
                                     relabel_suspects=relabel_suspects), "interrupted")
    console = _console()
    summary = result.report["summary"]
    console.print(f"{summary['errors']} error(s), {summary['warnings']} warning(s), {summary['infos']} note(s)",
                  highlight=False)
    for finding in result.report["findings"]:
        console.print(f"  {finding['severity']}: {finding['message']}", markup=False, highlight=False, soft_wrap=True)
    console.print(f"report: {result.report_path} (and data_report.md, data_report.json)", markup=False, soft_wrap=True)
    if result.cleaned is not None:
        console.print(f"cleaned copy ({result.changes} change(s), see changes.jsonl): "
                      + ", ".join(str(p) for p in result.cleaned.values()), markup=False, soft_wrap=True)


@data_app.command("augment")
def augment(
    config: Path = typer.Argument(..., help="a run config; its data.augment section, if any, sets the operations"),
    factor: Optional[int] = typer.Option(None, "--factor", min=1, max=16, help="augmented copies per training example"),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="folder for the splits and their config "
                                                                       "(default: NAME-augmented)"),
    overrides: Optional[list[str]] = typer.Argument(None, help="dotted overrides, e.g. data.augment.alpha=0.2"),
) -> None:
    """Split the data as train would, add augmented copies to the training split only (EDA with synonyms
    from the backbone's embeddings), and write the splits with a config that trains on them."""
    from .data.commands import augment_data

    _setup_logging()
    result = _run(lambda: augment_data(config, output, factor, overrides or []), "interrupted")
    _console().print(f"{result['augmented']} augmented examples added to {result['original']} training examples\n"
                     + "\n".join(f"{name}: {path}" for name, path in result["files"].items())
                     + f"\nnext: tuneforge train {result['config']}", markup=False, highlight=False, soft_wrap=True)


@data_app.command("mask")
def mask(
    file: Path = typer.Argument(..., help="a CSV, TSV, JSONL or plain-text (.txt) file"),
    types: Optional[list[str]] = typer.Option(None, "--type", "-t", help="what to mask (repeatable): email, phone, "
                                              "credit_card, iban, ip, url; person, location, organization need "
                                              "--ner-bundle (default: all pattern types)"),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="the masked copy (default: NAME.masked.EXT)"),
    columns: Optional[list[str]] = typer.Option(None, "--column", "-c", help="columns to mask (default: every "
                                                                             "text column)"),
    ner_bundle: Optional[Path] = typer.Option(None, "--ner-bundle", help="an entity-tagging bundle for names, "
                                                                         "places and organisations"),
    data_format: Optional[str] = typer.Option(None, "--format", help="csv, tsv, jsonl or text"),
) -> None:
    """Write a copy of a file with personal data replaced by <TYPE> (Presidio's recognisers, checksums
    for cards and IBANs); the original is kept."""
    from .data.commands import mask_file

    _setup_logging()
    result = _run(lambda: mask_file(file, output, types, columns, ner_bundle, data_format), "interrupted")
    masked = ", ".join(f"{t} {n}" for t, n in sorted(result["masked"].items())) or "nothing"
    _console().print(f"masked in {result['rows']} rows: {masked}\nwrote {result['output']}", markup=False,
                     highlight=False, soft_wrap=True)
