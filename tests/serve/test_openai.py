"""The OpenAI-compatible routes of a generation bundle, driven by the official ``openai`` client
against the real server (a tiny Llama trained to answer a few prompts)."""

from __future__ import annotations

import json

import pytest

from tuneforge import api
from tuneforge.config import build_config

from ..tasks.test_generation import chat_records, write_jsonl
from .conftest import KEY, Server, httpx, wait_for

openai = pytest.importorskip("openai")


def train_bundle(folder, tiny_llama_dir, epochs: int):
    data = write_jsonl(folder / "train.jsonl", chat_records())
    cfg = build_config({"data": {"train": str(data), "test": str(data)}, "model": {"name": str(tiny_llama_dir),
                        "max_length": 128}, "task": {"type": "generation", "compare_base_model": False,
                                                     "decoding": {"max_new_tokens": 6}},
                        "method": {"name": "full"}, "output": {"dir": str(folder / "run")},
                        "train": {"epochs": epochs or 1, "batch_size": 8, "report_to": [],
                                  "learning_rate": 5e-3 if epochs else 1e-9, "max_steps": None if epochs else 1}})
    return api.train(cfg).bundle_dir


@pytest.fixture(scope="module")
def server(tiny_llama_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("openai")
    bundle = train_bundle(folder, tiny_llama_dir, epochs=25)
    keys = folder / "keys.txt"
    keys.write_text(KEY + "\n")
    srv = Server(bundle, "--api-key-file", keys, "--max-new-tokens", 16, "--max-prompt-tokens", 60, log_dir=folder)
    srv.bundle = bundle
    yield srv
    srv.stop()


def client(srv):
    return openai.OpenAI(base_url=srv.url + "/v1", api_key=KEY, max_retries=0, timeout=60)


def test_chat_completion_matches_the_bundle_and_streams_the_same(server):
    expected = api.generate(server.bundle, prompts=["say hi"], max_new_tokens=6)[0]["text"]
    answer = client(server).chat.completions.create(model="tiny", messages=[{"role": "user", "content": "say hi"}],
                                                     max_tokens=6, temperature=0)
    assert answer.object == "chat.completion" and answer.choices[0].message.role == "assistant"
    assert answer.choices[0].message.content == expected  # the server's batched decoding = model.generate
    assert answer.usage.completion_tokens >= 1 and answer.usage.prompt_tokens > 0
    chunks = list(client(server).chat.completions.create(model="tiny", messages=[{"role": "user", "content": "say hi"}],
                                                          max_tokens=6, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == expected
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")
    assert all(c.object == "chat.completion.chunk" for c in chunks)


def test_completions_models_and_metrics(server):
    text = client(server).completions.create(model="tiny", prompt="<|im_start|>user\nsay bye<|im_end|>\n", max_tokens=4)
    assert text.object == "text_completion" and text.choices[0].finish_reason in ("stop", "length")
    listed = client(server).models.list()
    assert [m.id for m in listed.data] == ["run"]
    body = httpx.get(server.url + "/metrics", headers={"Authorization": f"Bearer {KEY}"}).text
    generated = [line for line in body.splitlines() if line.startswith("tuneforge_generated_tokens_total ")]
    assert generated and float(generated[0].split()[1]) > 0
    assert "tuneforge_time_to_first_token_seconds_bucket" in body and "tuneforge_prompt_tokens_total" in body


def test_limits_answer_4xx_never_5xx(server):
    c = client(server)
    with pytest.raises(openai.APIStatusError) as too_long:
        c.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "word " * 40}])
    assert too_long.value.status_code == 413 and "at most 60" in str(too_long.value)
    with pytest.raises(openai.APIStatusError) as too_many:
        c.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "hi"}], max_tokens=17)
    assert too_many.value.status_code == 422 and "limit of 16" in str(too_many.value)
    headers = {"Authorization": f"Bearer {KEY}"}
    for body in ({"messages": []}, {"messages": [{"role": "robot", "content": "x"}]}, {"messages": "hi"},
                 {"messages": [{"role": "user", "content": "hi"}], "temperature": 5},
                 {"messages": [{"role": "user", "content": "hi"}], "stop": [""]},
                 {"messages": [{"role": "user", "content": "hi"}], "n": 2}, {"prompt": 3}):
        route = "/v1/completions" if "prompt" in body else "/v1/chat/completions"
        r = httpx.post(server.url + route, json=body, headers=headers)
        assert r.status_code == 422, (body, r.status_code, r.text)
    assert httpx.post(server.url + "/v1/chat/completions", json={"messages": [{"role": "user", "content": "hi"}]}
                      ).status_code == 401  # the API key applies
    assert httpx.post(server.url + "/v1/predict", json={"text": "hi"}, headers=headers).status_code == 422


def test_a_disconnected_streaming_client_frees_its_slot(tiny_llama_dir, tmp_path):
    """An untrained model rambles to max_tokens (slowed to 25 ms a token: 10 s for 400); the client leaves
    after the first piece: its row stops at once and the next request is served."""
    bundle = train_bundle(tmp_path, tiny_llama_dir, epochs=0)
    assert api.generate(bundle, prompts=["say hi"], max_new_tokens=400)[0]["finish_reason"] == "length"
    srv = Server(bundle, "--max-new-tokens", 400, "--generation-batch", 1, delay_ms=25, log_dir=tmp_path)
    try:
        body = {"messages": [{"role": "user", "content": "say hi"}], "max_tokens": 400, "stream": True}
        with httpx.stream("POST", srv.url + "/v1/chat/completions", json=body, timeout=60) as response:
            for line in response.iter_lines():
                if line.startswith("data: ") and '"content": "' in line and '"content": ""' not in line:
                    break  # the first piece of text: now leave
        cancelled = "tuneforge_generation_cancelled_total 1.0"
        wait_for(lambda: cancelled in httpx.get(srv.url + "/metrics").text, timeout=60, what="the row to stop")
        quick = httpx.post(srv.url + "/v1/chat/completions", timeout=60,
                           json={"messages": [{"role": "user", "content": "say hi"}], "max_tokens": 2})
        assert quick.status_code == 200 and json.loads(quick.text)["usage"]["completion_tokens"] <= 2
    finally:
        srv.stop()
