"""Precision: bf16 autocast chosen by what the CPU reports, never by default; fp32 weights either way."""

from __future__ import annotations

import pytest
import torch
import yaml
from transformers import TrainerCallback

from tuneforge import precision
from tuneforge.config import build_config
from tuneforge.errors import ConfigError
from tuneforge.precision import autocast, cpu_flags, resolve_precision
from tuneforge.training.arguments import training_arguments


@pytest.mark.parametrize("flags, expected", [
    ({"avx2", "avx512f", "avx512_bf16"}, "bf16"),
    ({"avx2", "amx_tile", "amx_bf16", "amx_int8"}, "bf16"),
    ({"avx2", "fma"}, "fp32"),            # AMD EPYC without AVX-512: bf16 would be emulated
    ({"avx2", "avx512f", "avx512_vnni"}, "fp32"),
    (set(), "fp32"),
])
def test_auto_follows_the_cpu_flags(flags, expected):
    chosen = resolve_precision("auto", flags, speedup=lambda: 3.0)
    assert chosen.name == expected
    assert chosen.reason.startswith("auto:")


def test_auto_keeps_fp32_where_bf16_measures_slower():
    slow = resolve_precision("auto", {"avx2", "avx512_bf16"}, speedup=lambda: 0.56)
    assert slow.name == "fp32" and "0.56x" in slow.reason
    assert resolve_precision("auto", {"amx_bf16"}, speedup=lambda: 1.05).name == "fp32"  # under MIN_SPEEDUP


def test_the_speed_check_is_measured_once_and_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("TUNEFORGE_HOME", str(tmp_path))
    precision.bf16_speedup.cache_clear()
    try:
        ratio = precision.bf16_speedup()
        assert ratio > 0 and list((tmp_path / "precision").glob("*.json"))
        precision.bf16_speedup.cache_clear()
        cached = next((tmp_path / "precision").glob("*.json"))
        cached.write_text('{"bf16_speedup": 7.5}')
        assert precision.bf16_speedup() == 7.5  # read back, not measured again
    finally:
        precision.bf16_speedup.cache_clear()


def test_an_explicit_choice_wins_and_says_when_it_will_be_slow():
    assert resolve_precision("fp32", {"amx_bf16"}).name == "fp32"
    slow = resolve_precision("bf16", {"avx2"})
    assert slow.name == "bf16" and "slower" in slow.reason
    assert "slower" not in resolve_precision("bf16", {"avx512_bf16"}).reason
    with pytest.raises(ConfigError, match="auto, fp32, bf16"):
        resolve_precision("fp16", set())


def test_cpu_flags_reads_this_machine():
    flags = cpu_flags()
    assert isinstance(flags, set)
    if flags:  # Linux: every x86-64 CPU this runs on has SSE2
        assert "sse2" in flags or "asimd" in flags or "fp" in flags


def test_autocast_runs_matmul_in_bf16_and_fp32_is_untouched():
    layer = torch.nn.Linear(8, 4)
    x = torch.randn(2, 8)
    with autocast("bf16"):
        assert layer(x).dtype == torch.bfloat16
    with autocast("fp32"):
        assert layer(x).dtype == torch.float32
    assert layer.weight.dtype == torch.float32


def test_training_arguments_turn_autocast_on_only_for_bf16(tiny_config, tmp_path, monkeypatch):
    monkeypatch.setattr(precision, "cpu_flags", lambda: {"avx2"})
    cfg = build_config(tiny_config)
    assert cfg.train.precision == "auto"
    assert not training_arguments(cfg, tmp_path, "accuracy").bf16
    monkeypatch.setattr(precision, "cpu_flags", lambda: {"avx2", "amx_bf16"})
    monkeypatch.setattr(precision, "bf16_speedup", lambda: 3.0)
    assert training_arguments(cfg, tmp_path, "accuracy").bf16


class _RecordDtypes(TrainerCallback):
    """Records the dtype a linear layer computes in during training steps, and the weights' dtype."""

    def __init__(self):
        self.outputs, self.weights, self.hooked = set(), set(), False

    def on_step_begin(self, args, state, control, model=None, **kwargs):
        if not self.hooked:
            linear = next(m for m in model.modules() if isinstance(m, torch.nn.Linear))
            linear.register_forward_hook(lambda module, inp, out: self.outputs.add(out.dtype) if module.training else None)
            self.hooked = True
        self.weights |= {p.dtype for p in model.parameters()}


@pytest.mark.parametrize("flags, expected", [({"avx2", "avx512_bf16"}, torch.bfloat16), ({"avx2"}, torch.float32)])
def test_a_run_trains_under_the_resolved_precision_and_says_so(tiny_config, tmp_path, monkeypatch, flags, expected):
    monkeypatch.setattr(precision, "cpu_flags", lambda: flags)
    monkeypatch.setattr(precision, "bf16_speedup", lambda: 3.0)
    from tuneforge.training.run import train_run

    recorder = _RecordDtypes()
    tiny_config["train"].update(epochs=1, report_to=[])
    result = train_run(build_config(tiny_config), callbacks=[recorder])
    assert recorder.outputs == {expected}
    assert recorder.weights == {torch.float32}  # autocast only: weights and optimizer state stay fp32
    name = "bf16" if expected == torch.bfloat16 else "fp32"
    saved = yaml.safe_load((result.run_dir / "config.yaml").read_text())
    assert saved["train"]["precision"] == name  # resolved, not "auto"
    report = (result.run_dir / "report.md").read_text()
    assert f"**precision**: {name} (auto:" in report
    assert f"precision: {name} (auto:" in (result.run_dir / "train.log").read_text()
    assert result.predictor.manifest.method.model_dump()["precision"].startswith(name)
    # the trained model keeps no autocast wrapper from training: inference picks its own precision
    result.predictor.precision = precision.Precision("fp32", "test")
    seen = set()
    linear = next(m for m in result.predictor.model.modules() if isinstance(m, torch.nn.Linear))
    linear.register_forward_hook(lambda module, inp, out: seen.add(out.dtype))
    result.predictor.predict_texts(["a fine film"])
    assert seen == {torch.float32}


def test_precision_is_a_config_choice(tiny_config):
    tiny_config["train"]["precision"] = "fp16"
    with pytest.raises(Exception, match="precision"):
        build_config(tiny_config)
    tiny_config["train"]["precision"] = "fp32"
    assert build_config(tiny_config).train.precision == "fp32"


def test_gradient_checkpointing_is_a_train_option(tiny_config, tmp_path):
    cfg = build_config(tiny_config)
    assert not training_arguments(cfg, tmp_path, "accuracy").gradient_checkpointing
    tiny_config["train"]["gradient_checkpointing"] = True
    assert training_arguments(build_config(tiny_config), tmp_path, "accuracy").gradient_checkpointing
