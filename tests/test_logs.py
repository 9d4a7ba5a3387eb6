"""A quiet console: one line per evaluation, no library noise (unless --verbose), TuneForge's own lines
visible through the Python API."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from .conftest import NEGATIVE, POSITIVE, write_csv


@pytest.fixture(scope="module")
def small_run(tiny_model_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("quiet")
    rows = [{"text": t, "label": "pos"} for t in POSITIVE] + [{"text": t, "label": "neg"} for t in NEGATIVE]
    write_csv(folder / "reviews.csv", rows)
    config = folder / "reviews.yaml"
    config.write_text(yaml.safe_dump({"data": {"train": "reviews.csv"}, "model": {"name": str(tiny_model_dir)},
                                      "train": {"epochs": 2, "batch_size": 4, "logging_steps": 2, "report_to": []}}))
    return folder, config


def run(*args, cwd):
    return subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True, timeout=300, cwd=cwd)


def test_the_cli_prints_one_line_per_evaluation_and_no_dictionaries(small_run):
    folder, config = small_run
    proc = run("-m", "tuneforge", "train", config, f"output.dir={folder / 'cli'}", cwd=folder)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout + proc.stderr
    assert out.count("evaluation at step") == 2  # two epochs, one line each
    assert "{'loss'" not in out and "{'eval_loss'" not in out and "'train_runtime'" not in out
    assert "LOAD REPORT" not in out
    assert "'loss':" not in (folder / "cli" / "train.log").read_text()  # raw lines are DEBUG: --verbose only


def test_verbose_logs_trainer_lines_at_debug_level(small_run):
    """The raw Trainer dictionaries reach the log at DEBUG level, which --verbose turns on."""
    import logging

    from tuneforge import api

    folder, config = small_run
    logger = logging.getLogger("tuneforge")
    lines: list[str] = []
    handler = logging.Handler(logging.DEBUG)
    handler.emit = lambda record: lines.append(record.getMessage())
    logger.addHandler(handler)
    before = logger.level
    logger.setLevel(logging.DEBUG)
    try:
        api.train(str(config), [f"output.dir={folder / 'verbose'}"])
    finally:
        logger.removeHandler(handler)
        logger.setLevel(before)
    assert any("'loss':" in line for line in lines)  # "step N: {'loss': ..., 'grad_norm': ...}"


def test_export_hides_tracer_and_quantization_warnings_unless_verbose(small_run):
    from tuneforge import api

    folder, config = small_run
    bundle, data = api.train(str(config), [f"output.dir={folder / 'export'}"]).bundle_dir, folder / "reviews.csv"
    quiet = run("-m", "tuneforge", "export", bundle, "--data", data, cwd=folder)
    assert quiet.returncode == 0, quiet.stderr
    assert "TracerWarning" not in quiet.stderr and "pre-processing before quantization" not in quiet.stderr
    loud = run("-m", "tuneforge", "-v", "export", bundle, "--data", data, cwd=folder)
    assert "TracerWarning" in loud.stderr


def test_the_python_api_shows_tuneforge_lines_and_not_the_load_report(small_run):
    folder, config = small_run
    script = (f"from tuneforge import api\n"
              f"api.train({str(config)!r}, ['output.dir={folder / 'api'}'])\n")
    proc = run("-c", script, cwd=folder)
    assert proc.returncode == 0, proc.stderr
    assert "tuneforge INFO: data: 18 train" in proc.stderr and "tuneforge INFO: evaluation at step" in proc.stderr
    assert "LOAD REPORT" not in proc.stderr
    configured = run("-c", "import logging; logging.basicConfig(format='MINE %(name)s %(message)s', level='INFO')\n"
                     f"from tuneforge import api\napi.check({str(config)!r})\n", cwd=folder)
    assert configured.returncode == 0, configured.stderr
    assert "MINE tuneforge data: 18 train" in configured.stderr and "tuneforge INFO:" not in configured.stderr
