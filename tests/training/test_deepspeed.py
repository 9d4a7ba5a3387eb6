"""`train.deepspeed`: a DeepSpeed ZeRO config passed through to Trainer, in a `--nproc 2` run on CPU (gloo).
Runs only where DeepSpeed is installed (pip install 'tuneforge[deepspeed]'); its first run compiles a
communication op (about 90 s), so `make test` does not install it."""

from __future__ import annotations

import importlib.util
import json

import pytest

from tuneforge.config import build_config
from tuneforge.errors import ConfigError
from tuneforge.training.distributed import distributed_options

from .test_distributed import _cli, _losses, no_dropout_setup  # noqa: F401  (the fixture)

needs_deepspeed = pytest.mark.skipif(importlib.util.find_spec("deepspeed") is None,
                                     reason="DeepSpeed is not installed (pip install 'tuneforge[deepspeed]')")


def test_deepspeed_needs_a_distributed_launch_and_a_json_file(tiny_config, tmp_path, monkeypatch):
    config = tmp_path / "zero2.json"
    config.write_text(json.dumps({"zero_optimization": {"stage": 2}}))
    cfg = build_config({**tiny_config, "train": {**tiny_config["train"], "deepspeed": str(config)}})
    with pytest.raises(ConfigError, match="distributed launch"):
        distributed_options(cfg.train.deepspeed)
    monkeypatch.setenv("WORLD_SIZE", "2")
    (tmp_path / "broken.json").write_text("{not json")
    if importlib.util.find_spec("deepspeed") is not None:
        with pytest.raises(ConfigError, match="not a readable JSON file"):
            distributed_options(tmp_path / "broken.json")
        options = distributed_options(config)
        assert options["deepspeed"] == str(config.resolve()) and options["average_tokens_across_devices"] is False
        config.write_text(json.dumps({"zero_optimization": {"stage": 3}}))
        with pytest.raises(ConfigError, match="stage 1 or 2"):
            distributed_options(config)
    else:
        with pytest.raises(ConfigError, match="pip install 'tuneforge\\[deepspeed\\]'"):
            distributed_options(config)


@needs_deepspeed
@pytest.mark.serial
def test_zero2_trains_like_plain_data_parallel(no_dropout_setup, tmp_path):  # noqa: F811
    zero = tmp_path / "zero.json"
    zero.write_text(json.dumps({"zero_optimization": {"stage": 2}, "zero_allow_untested_optimizer": True,
                                "train_micro_batch_size_per_gpu": "auto", "gradient_accumulation_steps": "auto",
                                "train_batch_size": "auto", "gradient_clipping": "auto"}))
    plain, ds = tmp_path / "ddp", tmp_path / "zero"
    for run, extra in ((plain, []), (ds, [f"train.deepspeed={zero}"])):
        proc = _cli("train", no_dropout_setup, f"output.dir={run}", *extra, "--nproc", "2")
        assert proc.returncode == 0, proc.stderr[-3000:]
    assert _losses(ds)[:4] == pytest.approx(_losses(plain)[:4], rel=1e-3)
    assert (ds / "bundle" / "tuneforge.json").is_file()
