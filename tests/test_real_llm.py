"""SmolLM2-135M-Instruct for real (slow): converted from its GGUF package, fine-tuned with LoRA for two
steps, bundled as an adapter, reloaded; the server's batched decoding gives model.generate's tokens."""

from __future__ import annotations

import json

import pytest

from tuneforge import api
from tuneforge.config import build_config
from tuneforge.predictor import Predictor

from .conftest import SHARED_DATA

pytestmark = pytest.mark.slow


def test_smollm2_lora_round_trip_and_batched_decoding(tmp_path):
    from tuneforge.generation.chat_format import prompt_ids
    from tuneforge.generation.decoding import DecodingOptions, generate_batch
    from tuneforge.generation.stepwise import Row, decode_batch

    rows = [json.loads(line) for line in (SHARED_DATA / "dialogsum" / "dialogsum.train.jsonl").open()][:12]
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps({"dialogue": r["dialogue"], "summary": r["summary"]}) + "\n" for r in rows))
    cfg = build_config({"data": {"train": str(data), "prompt_column": "dialogue", "response_column": "summary",
                                 "prompt_template": "Summarize the following dialogue.\n\n{prompt}",
                                 "max_eval_samples": 2, "split": {"validation": 0.17, "test": 0.17}},
                        "model": {"max_length": 384}, "task": {"type": "generation", "decoding": {"max_new_tokens": 8}},
                        "method": {"name": "lora", "merge": False}, "output": {"dir": str(tmp_path / "run")},
                        "train": {"max_steps": 2, "batch_size": 4, "learning_rate": 5e-4, "report_to": []}})
    result = api.train(cfg)
    manifest = json.loads((result.bundle_dir / "tuneforge.json").read_text())
    assert manifest["base_model"]["name"] == "smollm2-135m-instruct" and manifest["model"]["kind"] == "trained_parameters"
    assert (result.bundle_dir / "adapter" / "trainable.safetensors").stat().st_size < 30 * 2**20
    assert "rougeL" in result.metrics and "rougeL" in result.metrics["baseline"]
    predictor = Predictor.load(result.bundle_dir)
    tokenizer = predictor.tokenizer
    prompts = [prompt_ids(tokenizer, [{"role": "user", "content": text}])
               for text in ("Name a primary colour.", "Write one word that rhymes with cat, and nothing else.")]
    options = DecodingOptions(max_new_tokens=12)
    expected = [g.text for g in generate_batch(predictor.model, tokenizer, prompts, options)]
    batched = decode_batch(predictor.model, tokenizer, [Row(p, options) for p in prompts])
    assert [r.text.strip() for r in batched] == expected
