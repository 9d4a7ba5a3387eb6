"""Fuzzing the HTTP API with schemathesis: no request, valid or not, with or without keys, gets a 5xx.

The server publishes its request-body schemas in the OpenAPI document (``PREDICT_SCHEMA``,
``RELOAD_SCHEMA``), so schemathesis generates bodies for ``POST /v1/predict`` and
``POST /v1/admin/reload``: ones that follow the schema (positive) and ones that break it (negative),
plus its coverage cases (boundary values, wrong types, other content types, methods the route does
not take). As most generated predict bodies stop at a 422, the strings of each are also sent as one
``texts`` list, so that odd text reaches the model. Every operation gets at most ``MAX_EXAMPLES``
generated cases, each request a timeout, and each configuration a time budget. Afterwards the server
must still be alive, ready and predicting, and no access-log line may show a 5xx.

Two configurations: no keys on loopback (default limits), and API keys plus an admin key with
``--bundle-root`` (small limits, so the limits are reached), where every case is sent with the right
key and again without it or with the key of the other kind (which must get a 401).

``TUNEFORGE_FUZZ_EXAMPLES``, ``TUNEFORGE_FUZZ_SECONDS`` and ``TUNEFORGE_FUZZ_SEED`` change the bounds
and fix the seed (it varies by default; a failure prints a curl line that reproduces it).
"""

from __future__ import annotations

import json
import os
import shlex
import time
from collections import Counter

import pytest

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")
schemathesis = pytest.importorskip("schemathesis")
hypothesis = pytest.importorskip("hypothesis")

from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.config import SchemathesisConfig  # noqa: E402

from .conftest import KEY, Server  # noqa: E402

pytestmark = pytest.mark.serial  # a time budget per configuration: make test runs this file alone

ADMIN_KEY = "admin-key-fedcba9876543210"
MAX_EXAMPLES = int(os.environ.get("TUNEFORGE_FUZZ_EXAMPLES", "500"))  # generated cases per operation and run
TIME_BUDGET_S = float(os.environ.get("TUNEFORGE_FUZZ_SECONDS", "20"))  # per configuration: later cases send nothing
REQUEST_TIMEOUT_S = 15
SETTINGS = hypothesis.settings(
    max_examples=MAX_EXAMPLES, deadline=None, database=None, print_blob=True,
    suppress_health_check=list(hypothesis.HealthCheck),  # slow data, filtering, fixtures: not what is tested here
)
SENT: dict[str, list[tuple]] = {"open": [], "keyed": []}  # (operation, phase, mode, status) of every request sent
STARTED: dict[str, float] = {}  # first and last request of each configuration
LAST: dict[str, float] = {}
SERVER_ERRORS: list[str] = []  # once a 5xx is seen, the budget no longer applies: Hypothesis shrinks it


def _config() -> SchemathesisConfig:
    """All generation modes (positive and negative bodies), examples + coverage + fuzzing phases, no
    stateful phase, and one check: the response is not a server error."""
    seed = os.environ.get("TUNEFORGE_FUZZ_SEED")
    return SchemathesisConfig.from_dict({
        **({"seed": int(seed)} if seed else {}),
        "generation": {"mode": "all", "max-examples": MAX_EXAMPLES, "database": "none"},
        "phases": {"stateful": {"enabled": False}},
        "checks": {"enabled": False, "not_a_server_error": {"enabled": True}},
        "request-timeout": REQUEST_TIMEOUT_S,
    })


def _published(server: Server, headers: dict[str, str] | None = None) -> dict:
    """The OpenAPI document the live server publishes, with every request-body schema in it."""
    document = httpx.get(server.url + "/openapi.json", headers=headers, timeout=REQUEST_TIMEOUT_S).json()
    bodies = {path: ops["post"]["requestBody"]["content"]["application/json"]["schema"]
              for path, ops in document["paths"].items() if "post" in ops}
    assert set(bodies) == {"/v1/predict", "/v1/explain", "/v1/admin/reload", "/v1/chat/completions",
                           "/v1/completions"}, \
        "request-body schemas missing from the OpenAPI document"
    assert bodies["/v1/predict"]["properties"] and bodies["/v1/admin/reload"]["required"] == ["bundle"]
    return document


def _without_operation_ids(document: dict) -> dict:
    """FastAPI names the GET and HEAD operations of one route from a set of methods: the order varies."""
    return {**document, "paths": {path: {method: {k: v for k, v in op.items() if k != "operationId"}
                                         for method, op in ops.items()} for path, ops in document["paths"].items()}}


def _document() -> dict:
    """The OpenAPI document of the app, built in this process without a model: schemathesis generates its
    tests at collection, before any server runs; each run first checks the live server publishes this one."""
    import warnings

    from tuneforge.serve.app import ServeSettings, create_app

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # FastAPI: GET and HEAD of one route share an operation id
        return create_app(ServeSettings(bundle="unused")).openapi()


DOCUMENT = _document()
# ``schemathesis.pytest.from_fixture`` (load from the live server's URL at run time) fails on pytest 9.2
# (it sets ``Function._nodeid``, gone there); so the schema is loaded at collection, and the fixtures below
# compare it with what each live server publishes before any case is sent.
open_schema = schemathesis.openapi.from_dict(DOCUMENT, config=_config())
keyed_schema = schemathesis.openapi.from_dict(DOCUMENT, config=_config())


@pytest.fixture(scope="module")
def open_server(bundles, tmp_path_factory):
    srv = Server(bundles["cls"], "--bundle-root", bundles["tmp"], log_dir=tmp_path_factory.mktemp("fuzz-open"))
    try:
        assert _without_operation_ids(_published(srv)) == _without_operation_ids(DOCUMENT)
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def keyed_server(bundles, tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz-keyed")
    (folder / "keys").write_text(KEY + "\n")
    (folder / "admin-keys").write_text(ADMIN_KEY + "\n")
    srv = Server(bundles["cls"], "--api-key-file", folder / "keys", "--admin-key-file", folder / "admin-keys",
                 "--bundle-root", bundles["tmp"], "--max-texts", 4, "--max-text-chars", 200,
                 "--max-body-bytes", 2000, log_dir=folder)
    try:
        published = _published(srv, {"Authorization": f"Bearer {KEY}"})
        assert _without_operation_ids(published) == _without_operation_ids(DOCUMENT)
        yield srv
    finally:
        srv.stop()


def _send(run: str, server: Server, case, headers: dict[str, str] | None = None):
    """One request; any 5xx fails the example (schemathesis prints a curl line to reproduce it)."""
    response = case.call(base_url=server.url, headers=headers, timeout=REQUEST_TIMEOUT_S)
    meta = case.meta
    SENT[run].append((f"{case.method.upper()} {case.path}", meta.phase.name.value if meta else "?",
                      meta.generation.mode.value if meta else "?", response.status_code))
    if response.status_code >= 500:
        SERVER_ERRORS.append(f"{case.method} {case.path} -> {response.status_code}")
    case.validate_response(response, checks=[not_a_server_error], headers=headers)
    assert response.status_code < 500, f"{case.method} {case.path}: {response.status_code} {response.text[:500]}"
    return response


def _through_the_model(run: str, server: Server, case, headers: dict[str, str] | None = None):
    """Most generated bodies stop at a 422 (``text`` and ``texts`` together, pairs for a single-text model):
    their strings are sent again as one ``texts`` list, which the model gets unless a limit stops it."""
    if case.path != "/v1/predict" or not isinstance(case.body, dict):
        return
    texts = [item for value in case.body.values() for item in (value if isinstance(value, list) else [value])
             if isinstance(item, str) and item.strip()][:4]
    if not texts:
        return
    body = json.dumps({"texts": texts})  # ASCII: a lone surrogate travels as its escape, as in finding 1
    response = httpx.post(server.url + "/v1/predict", content=body, timeout=REQUEST_TIMEOUT_S,
                          headers={"Content-Type": "application/json", **(headers or {})})
    SENT[run].append(("POST /v1/predict", "derived", "any", response.status_code))
    if response.status_code >= 500:
        SERVER_ERRORS.append(f"POST /v1/predict {body} -> {response.status_code}")
    curl = f"curl -X POST -H 'Content-Type: application/json' -d {shlex.quote(body)} {server.url}/v1/predict"
    assert response.status_code < 500, f"{response.status_code} {response.text[:500]}\nReproduce with:\n    {curl}"


MIN_PER_MODE = 5  # cases every (operation, phase, mode) still sends once the time budget is spent


def _over_budget(run: str, case) -> bool:
    """Whether the configuration's time budget is spent, for this case. Every (operation, phase, mode)
    still gets its first ``MIN_PER_MODE`` cases: on a loaded machine the budget can run out while
    schemathesis is still on one mode, and the other mode must not go unsent."""
    LAST[run] = time.monotonic()
    STARTED.setdefault(run, LAST[run])
    if SERVER_ERRORS:
        return False
    meta = case.meta
    key = (f"{case.method.upper()} {case.path}", meta.phase.name.value if meta else "?",
           meta.generation.mode.value if meta else "?")
    if sum(1 for sent in SENT[run] if sent[:3] == key) < MIN_PER_MODE:
        return False
    return LAST[run] - STARTED[run] > TIME_BUDGET_S


@open_schema.parametrize()
@SETTINGS
def test_fuzz_without_keys(case, open_server):
    if _over_budget("open", case):
        return
    _send("open", open_server, case)
    _through_the_model("open", open_server, case)


@keyed_schema.parametrize()
@SETTINGS
def test_fuzz_with_keys(case, keyed_server):
    if _over_budget("keyed", case):
        return
    admin = case.path.startswith("/v1/admin/")
    protected = case.path not in ("/livez", "/readyz")
    _send("keyed", keyed_server, case, {"Authorization": f"Bearer {ADMIN_KEY if admin else KEY}"})
    _through_the_model("keyed", keyed_server, case, {"Authorization": f"Bearer {KEY}"})
    # The same request without the key, or with the key of the other kind: refused before the app sees it.
    wrong = [None, {"Authorization": f"Bearer {KEY if admin else ADMIN_KEY}"}][len(SENT["keyed"]) // 2 % 2]
    refused = _send("keyed", keyed_server, case, wrong)
    if protected:
        assert refused.status_code == 401, f"{case.method} {case.path} with {wrong}: {refused.status_code}"


surrogates = hypothesis.strategies.integers(0xD800, 0xDFFF).map(lambda c: f"\\u{c:04x}")
hostile_texts = hypothesis.strategies.lists(
    hypothesis.strategies.one_of(hypothesis.strategies.text(max_size=12).map(lambda t: json.dumps(t)[1:-1]),
                                 surrogates), min_size=1, max_size=6).map("".join)


@hypothesis.strategies.composite
def hostile_bodies(draw) -> bytes:
    """Bodies a schema never describes: lone surrogates in text, deep nesting, huge integers, NaN,
    bytes that are not UTF-8, truncated JSON (findings 1 and 8 of issue 12 were such bodies)."""
    text = draw(hostile_texts)
    kind = draw(hypothesis.strategies.sampled_from(["surrogate", "nested", "integer", "constant", "bytes", "cut"]))
    if kind == "surrogate":
        return f'{{"texts": ["{text}", "a fine film"]}}'.encode()
    if kind == "nested":
        depth = draw(hypothesis.strategies.integers(1, 3000))
        return b'{"text": ' + b"[" * depth + b'"x"' + b"]" * depth + b"}"
    if kind == "integer":
        return b'{"text": "fine", "n": ' + b"9" * draw(hypothesis.strategies.integers(1, 6000)) + b"}"
    if kind == "constant":
        return ('{"text": %s}' % draw(hypothesis.strategies.sampled_from(["NaN", "Infinity", "-Infinity"]))).encode()
    if kind == "bytes":
        return b'{"text": "' + draw(hypothesis.strategies.binary(min_size=1, max_size=20)) + b'"}'
    body = f'{{"texts": ["{text}"]}}'.encode()
    return body[: draw(hypothesis.strategies.integers(0, len(body)))]


@hypothesis.given(body=hostile_bodies())
@hypothesis.settings(max_examples=int(os.environ.get("TUNEFORGE_FUZZ_HOSTILE", "100")), deadline=None,
                     database=None, suppress_health_check=list(hypothesis.HealthCheck))
def test_hostile_bodies_never_get_a_5xx(body, open_server):
    response = httpx.post(open_server.url + "/v1/predict", content=body, timeout=REQUEST_TIMEOUT_S,
                          headers={"Content-Type": "application/json"})
    SENT["open"].append(("POST /v1/predict", "hostile", "raw", response.status_code))
    assert response.status_code < 500, f"{response.status_code} {response.text[:300]} for {body[:200]!r}"
    assert httpx.get(open_server.url + "/readyz", timeout=REQUEST_TIMEOUT_S).status_code == 200


def _assert_still_serving(run: str, server: Server, headers: dict[str, str]):
    if not SENT[run]:
        pytest.skip("the fuzzing test of this configuration did not run")
    assert server.proc.poll() is None, f"the server exited: {server.log.read_text()[-3000:]}"
    ready = httpx.get(server.url + "/readyz", headers=headers, timeout=10)
    assert ready.status_code == 200, ready.text
    predicted = httpx.post(server.url + "/v1/predict", json={"text": "a great movie"}, headers=headers, timeout=10)
    assert predicted.status_code == 200, predicted.text
    assert predicted.json()["predictions"][0]["label"] in {"positive", "negative"}
    errors = [line for line in server.access_lines() if line.get("status", 0) >= 500 or "error" in line]
    assert not errors, f"5xx or failures in the access log: {errors[:10]}"
    summary = Counter((op, phase, mode) for op, phase, mode, _ in SENT[run])
    for op in ("POST /v1/predict", "POST /v1/admin/reload"):  # the bodies were fuzzed, valid and invalid
        if any(sent[0] == op for sent in SENT[run]):
            assert summary[op, "fuzzing", "positive"] and summary[op, "fuzzing", "negative"], summary
    statuses = Counter(status for *_, status in SENT[run])
    seconds = LAST[run] - STARTED[run]
    budget = " (time budget reached)" if seconds > TIME_BUDGET_S else ""
    print(f"\n{run}: {len(SENT[run])} requests in {seconds:.1f} s{budget}; statuses {dict(sorted(statuses.items()))}")
    for (op, phase, mode), n in sorted(summary.items()):
        print(f"  {op:24} {phase:9} {mode:9} {n}")


def test_after_fuzzing_without_keys_the_server_is_ready(open_server):
    _assert_still_serving("open", open_server, {})


def test_after_fuzzing_with_keys_the_server_is_ready(keyed_server, bundles):
    headers = {"Authorization": f"Bearer {KEY}"}
    _assert_still_serving("keyed", keyed_server, headers)
    reloaded = httpx.post(keyed_server.url + "/v1/admin/reload", json={"bundle": str(bundles["cls"])},
                          headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=60)
    assert reloaded.status_code == 200, reloaded.text  # the admin route still works after being fuzzed
    assert httpx.post(keyed_server.url + "/v1/predict", json={"text": "a great movie"}, headers=headers,
                      timeout=10).status_code == 200
