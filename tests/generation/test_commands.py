"""``generate`` and ``chat`` (API and CLI) on a tiny trained Llama bundle; every path builds the prompt
the way training did."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from tuneforge import api
from tuneforge.cli import app
from tuneforge.config import build_config
from tuneforge.generation.chat_format import encode_conversation, prompt_ids
from tuneforge.predictor import Predictor

from ..tasks.test_generation import chat_records, write_jsonl


@pytest.fixture(scope="module")
def bundle(tiny_llama_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("gen")
    data = write_jsonl(tmp / "train.jsonl", chat_records())
    cfg = build_config({"data": {"train": str(data), "test": str(data)}, "model": {"name": str(tiny_llama_dir),
                        "max_length": 64}, "task": {"type": "generation", "compare_base_model": False,
                                                    "decoding": {"max_new_tokens": 5}},
                        "method": {"name": "full"}, "output": {"dir": str(tmp / "run")},
                        "train": {"epochs": 25, "batch_size": 8, "learning_rate": 5e-3, "report_to": []}})
    return api.train(cfg).bundle_dir


def recording(predictor):
    """Record the prompt ids every generate call receives."""
    seen = []
    original = predictor.model.generate

    def generate(*args, input_ids=None, attention_mask=None, **kwargs):
        for row, mask in zip(input_ids.tolist(), attention_mask.tolist()):
            seen.append([t for t, m in zip(row, mask) if m])
        return original(*args, input_ids=input_ids, attention_mask=attention_mask, **kwargs)

    predictor.model.generate = generate
    return seen


def test_every_inference_path_uses_the_prompt_ids_of_training(bundle):
    predictor = Predictor.load(bundle)
    seen = recording(predictor)
    conversation = [{"role": "user", "content": "say hi"}, {"role": "assistant", "content": "hi"}]
    trained = encode_conversation(predictor.tokenizer, conversation, max_length=64)
    answer_start = next(i for i, label in enumerate(trained.labels) if label != -100)
    expected = trained.input_ids[:answer_start]
    assert prompt_ids(predictor.tokenizer, conversation[:1]) == expected
    predictor.predict([{"messages": conversation}])  # evaluation / predict
    api.generate(predictor, prompts=["say hi"])  # tuneforge generate
    "".join(api.generate_stream(predictor, "say hi"))  # tuneforge generate, one prompt, streamed
    session = api.chat_session(predictor)
    "".join(session.send("say hi"))  # tuneforge chat
    assert seen == [expected] * 4
    assert server_prompt_ids(bundle, conversation[:1]) == expected  # tuneforge serve, /v1/chat/completions


def server_prompt_ids(bundle, messages) -> list[int]:
    """The prompt ids the server's chat route hands its decoder for ``messages`` (the app run in-process)."""
    from fastapi.testclient import TestClient

    from tuneforge.serve.app import ServeSettings, create_app

    app = create_app(ServeSettings(bundle=str(bundle)), predictor=Predictor.load(bundle))
    submitted = []
    with TestClient(app, base_url="http://127.0.0.1:8000") as http:
        engine = app.state.engine
        original = engine.generator.submit

        def submit(ids, decoding):
            submitted.append(list(ids))
            return original(ids, decoding)

        engine.generator.submit = submit
        answer = http.post("/v1/chat/completions", json={"model": "x", "messages": messages, "max_tokens": 2})
        assert answer.status_code == 200, answer.text
    return submitted[0]


def test_generate_answers_and_writes_jsonl(bundle, tmp_path):
    answers = api.generate(bundle, prompts=["say hi", "say bye"])
    assert [a["prompt"] for a in answers] == ["say hi", "say bye"]
    assert all(a["finish_reason"] in ("stop", "length") and a["tokens"] >= 1 for a in answers)
    assert sum(a["text"] == p.split()[1] for a, p in zip(answers, ["say hi", "say bye"])) >= 1  # it learnt
    runner = CliRunner()
    one = runner.invoke(app, ["generate", str(bundle), "--prompt", "say hi"])
    assert one.exit_code == 0, one.output
    assert one.stdout.strip() == answers[0]["text"]  # streamed, same greedy answer
    prompts = write_jsonl(tmp_path / "in.jsonl", [{"messages": [{"role": "user", "content": "say yes"}]},
                                                  {"instruction": "say no"}])
    out = tmp_path / "out.jsonl"
    many = runner.invoke(app, ["generate", str(bundle), "--input", str(prompts), "--output", str(out),
                               "--max-new-tokens", "3"])
    assert many.exit_code == 0, many.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["prompt"] for r in rows] == ["say yes", "say no"] and all(r["tokens"] <= 3 for r in rows)


def test_generate_refuses_bad_options_and_other_tasks(bundle, tiny_config):
    runner = CliRunner()
    bad = runner.invoke(app, ["generate", str(bundle), "--prompt", "x", "--temperature", "0"])
    assert bad.exit_code == 2 and "temperature" in bad.output and "Traceback" not in bad.output
    classifier = api.train(build_config({**tiny_config, "train": {**tiny_config["train"], "epochs": 1}})).bundle_dir
    other = runner.invoke(app, ["generate", str(classifier), "--prompt", "x"])
    assert other.exit_code == 2 and "does not generate text" in other.output


def test_chat_keeps_history_resets_and_exits(bundle):
    session = api.chat_session(bundle)
    first = "".join(session.send("say hi"))
    assert session.history == [{"role": "user", "content": "say hi"}, {"role": "assistant", "content": first.strip()}]
    "".join(session.send("say bye"))
    assert len(session.history) == 4
    session.reset()
    assert session.history == []
    result = CliRunner().invoke(app, ["chat", str(bundle)], input="say hi\n/reset\nsay bye\n/exit\nsay no\n")
    assert result.exit_code == 0, result.output
    assert result.stdout.count("assistant> ") == 2  # /exit ended the session before the last line
    assert "(conversation reset)" in result.output
