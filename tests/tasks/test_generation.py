"""Generation end to end on a tiny random Llama: data shapes, training, before/after, bundles."""

from __future__ import annotations

import json
import re

import pytest

from tuneforge import api
from tuneforge.config import build_config
from tuneforge.errors import DataError
from tuneforge.predictor import Predictor

PAIRS = [("say hi", "hi"), ("say bye", "bye"), ("say yes", "yes"), ("say no", "no"), ("say up", "up"),
         ("say ok", "ok"), ("say go", "go"), ("say on", "on")]


def write_jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def chat_records(n=4):
    return [{"messages": [{"role": "user", "content": p}, {"role": "assistant", "content": a}]}
            for p, a in PAIRS * n]


def config(tiny_llama_dir, tmp_path, **sections):
    data = write_jsonl(tmp_path / "train.jsonl", chat_records())
    test = write_jsonl(tmp_path / "test.jsonl", chat_records(1))
    base = {"data": {"train": str(data), "test": str(test)}, "model": {"name": str(tiny_llama_dir), "max_length": 64},
            "task": {"type": "generation", "decoding": {"max_new_tokens": 6}},
            "train": {"epochs": 3, "batch_size": 8, "learning_rate": 3e-3, "report_to": []},
            "output": {"dir": str(tmp_path / "run")}}
    for key, value in sections.items():
        base[key] = {**base.get(key, {}), **value}
    return build_config(base)


def test_lora_training_learns_and_the_adapter_bundle_reloads(tiny_llama_dir, tmp_path):
    result = api.train(config(tiny_llama_dir, tmp_path, method={"name": "lora", "r": 8, "merge": False}))
    metrics = result.metrics
    assert {"rouge1", "rouge2", "rougeL", "exact_match", "token_f1", "perplexity"} <= set(metrics)
    before = metrics["baseline"]
    assert before["name"].startswith("base model") and before["perplexity"] > metrics["perplexity"]
    bundle = result.bundle_dir
    assert (bundle / "adapter" / "trainable.safetensors").is_file() and not (bundle / "model" / "model.safetensors").exists()
    manifest = json.loads((bundle / "tuneforge.json").read_text())
    assert manifest["model"]["kind"] == "trained_parameters" and manifest["task"]["decoding"]["max_new_tokens"] == 6
    again = Predictor.load(bundle)
    examples = [{"messages": [{"role": "user", "content": "say hi"}]}]
    assert again.predict(examples) == result.predictor.predict(examples)
    html = (result.run_dir / "report.html").read_text()
    assert 'id="samples"' in html and "base model" in html
    report = (result.run_dir / "report.md").read_text()
    assert "base model, before fine-tuning" in report and "rougeL" in report
    tokens = int(re.search(r"\*\*training tokens\*\*: (\d+)", report).group(1))
    assert tokens > 0 and "**training tokens per second**:" in report


def test_full_fine_tuning_memorises_the_answers(tiny_llama_dir, tmp_path):
    # fp32 on every CPU: the 32-wide model memorises 6 of 8 answers under bf16 autocast (an AMX Xeon), 8 in fp32
    result = api.train(config(tiny_llama_dir, tmp_path, method={"name": "full"},
                              train={"epochs": 25, "learning_rate": 5e-3, "precision": "fp32"},
                              task={"compare_base_model": False}))
    assert result.metrics["exact_match"] >= 75.0, result.metrics
    assert "baseline" not in result.metrics
    assert json.loads((result.bundle_dir / "tuneforge.json").read_text())["model"]["kind"] == "transformers"


def test_record_shapes(tmp_path):
    from tuneforge.data.examples import DataColumns, read_task_file
    from tuneforge.tasks import get_task

    task = get_task("generation")
    alpaca = tmp_path / "lima.json"
    alpaca.write_text(json.dumps([
        {"instruction": "Name a colour.", "input": "", "output": "Blue.", "history": []},
        {"instruction": "Why?", "input": "", "output": "Because.", "history": [["Hi", "Hello!"]]},
    ]))
    rows = read_task_file(task, alpaca, None, DataColumns())
    assert [m["role"] for m in rows[1]["messages"]] == ["user", "assistant", "user", "assistant"]
    tree = {"prompt": {"role": "prompter", "text": "Q?", "replies": [
        {"role": "assistant", "text": "worse", "rank": 1, "replies": []},
        {"role": "assistant", "text": "best", "rank": 0, "replies": [{"role": "prompter", "text": "thanks"}]}]}}
    oasst = write_jsonl(tmp_path / "tree.jsonl", [tree])
    (conversation,) = read_task_file(task, oasst, None, DataColumns())
    assert conversation["messages"] == [{"role": "user", "content": "Q?"}, {"role": "assistant", "content": "best"}]
    summaries = write_jsonl(tmp_path / "sum.jsonl", [{"dialogue": "A: hi", "summary1": "x", "summary2": "y"}])
    columns = DataColumns(prompt_column="dialogue", response_columns=["summary", "summary1", "summary2"],
                          prompt_template="Summarize:\n{prompt}")
    (row,) = read_task_file(task, summaries, None, columns)
    assert row["references"] == ["x", "y"] and row["messages"][0]["content"] == "Summarize:\nA: hi"
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"question": "?"}])
    with pytest.raises(DataError, match="bad.jsonl line 1: not a generation record"):
        read_task_file(task, bad, None, DataColumns())
    turns = write_jsonl(tmp_path / "turns.jsonl", [{"messages": [{"role": "user", "content": "a"},
                                                                 {"role": "user", "content": "b"}]}])
    with pytest.raises(DataError, match="must alternate"):
        read_task_file(task, turns, None, DataColumns())


def test_a_gpt2_folder_without_chat_template_trains_with_the_plain_template(tiny_llama_dir, tmp_path):
    """Any local causal-LM folder works: a GPT-2 whose tokenizer has no chat template gets the plain one."""
    import torch
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

    tokenizer = AutoTokenizer.from_pretrained(tiny_llama_dir)
    tokenizer.chat_template = None
    folder = tmp_path / "gpt2"
    torch.manual_seed(0)
    GPT2LMHeadModel(GPT2Config(vocab_size=len(tokenizer), n_embd=32, n_layer=2, n_head=2, n_positions=256,
                               eos_token_id=tokenizer.eos_token_id)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    cfg = config(tiny_llama_dir, tmp_path, model={"name": str(folder)}, method={"name": "lora", "r": 4},
                 task={"compare_base_model": False}, train={"epochs": 1})
    result = api.train(cfg)
    saved = AutoTokenizer.from_pretrained(result.bundle_dir / "model")
    assert "### Response:" in saved.chat_template  # the plain template travels with the bundle
    assert Predictor.load(result.bundle_dir).predict([{"messages": [{"role": "user", "content": "say hi"}]}])


def test_the_eos_check_ignores_cut_answers_and_catches_templates_without_eos(tiny_llama_dir):
    from transformers import AutoTokenizer

    from tuneforge.errors import ConfigError
    from tuneforge.tasks import get_task

    task = get_task("generation").with_options(None)
    tokenizer = AutoTokenizer.from_pretrained(tiny_llama_dir)
    long_first = [{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "x" * 80}]},
                  {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "ok"}]}]
    dataset = task.encode(long_first, tokenizer, [], 48)  # the first answer loses its EOS to the cut: allowed
    assert len(dataset) == 2 and task.training_facts()["truncated_conversations"].startswith("1 of 2")
    tokenizer.chat_template = "{% for m in messages %}{{ m['content'] }}\n{% endfor %}"
    with pytest.raises(ConfigError, match="does not close an answer with the EOS token"):
        task.encode(long_first[1:], tokenizer, [], 48)


@pytest.mark.parametrize("name", ["dialogsum_lora", "lima_lora", "oasst_lora"])
def test_shipped_generation_configs_read_their_data(name):
    from tuneforge.config import load_config
    from tuneforge.data import load_splits
    from tuneforge.tasks import get_task

    from ..conftest import ROOT, SHARED_DATA

    if not SHARED_DATA.is_dir():
        pytest.skip("shared data not present")
    cfg = load_config(ROOT / "configs" / f"{name}.yaml")
    splits = load_splits(cfg.data, get_task(cfg.task.type).with_options(cfg.task))
    assert splits.train and splits.test and all(e["messages"][-1]["role"] == "assistant" for e in splits.train)
    if name == "dialogsum_lora":
        assert all(len(e["references"]) == 3 for e in splits.test)  # summary1..3 of the test set
        assert splits.train[0]["messages"][0]["content"].startswith("Summarize the following dialogue")
    if name == "oasst_lora":
        assert any(sum(m["role"] == "assistant" for m in e["messages"]) > 1 for e in splits.train)  # multi-turn
