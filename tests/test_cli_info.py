"""``tuneforge --version``, ``env``, ``methods`` and ``tasks``."""

from __future__ import annotations

import torch
from typer.testing import CliRunner

from tuneforge import __version__, precision
from tuneforge.cli import app
from tuneforge.cli_info import environment
from tuneforge.methods import METHODS
from tuneforge.tasks import TASKS

runner = CliRunner()


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout.strip() == f"tuneforge {__version__}"


def test_env_reports_versions_cpu_flags_and_what_auto_picks(monkeypatch):
    monkeypatch.setattr(precision, "cpu_flags", lambda: {"avx2", "avx512_bf16"})
    monkeypatch.setattr(precision, "bf16_speedup", lambda: 3.0)
    facts = environment()
    assert facts["versions"]["torch"] in (torch.__version__, torch.__version__.split("+")[0])
    assert facts["cpu_flags"] == ["avx2", "avx512_bf16"] and facts["precision_auto"].startswith("bf16")
    monkeypatch.setattr(precision, "cpu_flags", lambda: {"avx2"})
    assert environment()["precision_auto"].startswith("fp32")
    monkeypatch.setenv("COLUMNS", "200")
    result = runner.invoke(app, ["env"])
    assert result.exit_code == 0 and "transformers" in result.stdout and "model cache" in result.stdout


def test_methods_and_tasks_list_every_registered_entry_with_its_options(monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    listed = runner.invoke(app, ["methods"])
    assert listed.exit_code == 0
    for name in METHODS.names():
        assert name in listed.stdout
    lora = METHODS.get("lora").Options.model_fields["r"].default
    assert any(" r " in line and f" {lora} " in line for line in listed.stdout.splitlines())  # option + default
    tasks = runner.invoke(app, ["tasks"])
    assert tasks.exit_code == 0 and all(name in tasks.stdout for name in TASKS.names())
