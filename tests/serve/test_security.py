"""What a hostile client, a hostile web page or a careless operator can make the server do.

Each test is a finding of the security probe (issue 12) and failed on the server before the fix.
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")

from .conftest import KEY, Server, free_port, refuses_connections, wait_for  # noqa: E402

ADMIN_KEY = "admin-key-0123456789abcdef"
JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def open_server(bundles, tmp_path_factory):
    """No keys, on loopback, reload allowed below the bundles' folder."""
    srv = Server(bundles["cls"], "--bundle-root", bundles["tmp"], log_dir=tmp_path_factory.mktemp("open"))
    yield srv
    srv.stop()


def test_an_unpaired_surrogate_fails_its_request_only(open_server):
    """Finding 1: one JSON-escaped lone surrogate put the engine out of service (503 for everyone)."""
    body = b'{"texts": ["a great movie", "hello \\ud800"]}'
    response = httpx.post(open_server.url + "/v1/predict", content=body, headers=JSON)
    assert response.status_code == 422 and "unpaired surrogate" in response.json()["error"]
    assert httpx.get(open_server.url + "/readyz").status_code == 200
    assert httpx.post(open_server.url + "/v1/predict", json={"text": "a great movie"}).status_code == 200


def test_cross_site_requests_cannot_reach_the_api(open_server, bundles):
    """Finding 4: a web page could reload the model (text/plain POST, foreign Origin, rebound Host)."""
    url = open_server.url + "/v1/admin/reload"
    body = json.dumps({"bundle": str(bundles["ner"])})
    as_form = httpx.post(url, content=body, headers={"Content-Type": "text/plain"})
    assert as_form.status_code == 415
    as_upload = httpx.post(url, files={"bundle": ("b.json", body.encode())})  # multipart: predict of images only
    assert as_upload.status_code == 415
    text_upload = httpx.post(open_server.url + "/v1/predict", files={"image": ("a.png", b"fun")})
    assert text_upload.status_code == 415 and "image models" in text_upload.json()["error"]
    upload_from_page = httpx.post(open_server.url + "/v1/predict", files={"image": ("a.png", b"fun")},
                                  headers={"Origin": "http://evil.example"})  # a cross-site form post
    assert upload_from_page.status_code == 403
    rebound = httpx.post(url, content=body, headers={**JSON, "Host": "evil.example"})
    assert rebound.status_code == 421
    foreign = httpx.post(url, content=body, headers={**JSON, "Origin": "http://evil.example"})
    assert foreign.status_code == 403
    predict_from_page = httpx.post(open_server.url + "/v1/predict", json={"text": "fun"},
                                   headers={"Origin": "http://evil.example"})
    assert predict_from_page.status_code == 403
    own_page = httpx.post(open_server.url + "/v1/predict", json={"text": "fun"},
                          headers={"Origin": open_server.url})  # the /docs page of the server itself
    assert own_page.status_code == 200
    assert httpx.get(open_server.url + "/v1/models").json()["task"]["type"] == "classification"


def test_reload_only_below_the_bundle_root_and_reveals_nothing_outside(open_server, bundles, tmp_path):
    url = open_server.url + "/v1/admin/reload"
    outside_existing = httpx.post(url, json={"bundle": "/etc"})
    outside_missing = httpx.post(url, json={"bundle": "/etc/no-such-folder-here"})
    assert outside_existing.status_code == outside_missing.status_code == 403
    assert outside_existing.json() == outside_missing.json()
    escape = httpx.post(url, json={"bundle": str(bundles["tmp"] / ".." / "..")})
    assert escape.status_code == 403
    link = bundles["tmp"] / "link-out"
    link.symlink_to(tmp_path)
    try:
        assert httpx.post(url, json={"bundle": str(link)}).status_code == 403  # symlinks are followed first
    finally:
        link.unlink()
    assert httpx.get(open_server.url + "/v1/models").json()["task"]["type"] == "classification"


def test_reload_is_off_without_a_bundle_root(bundles, tmp_path):
    srv = Server(bundles["cls"], log_dir=tmp_path)
    try:
        response = httpx.post(srv.url + "/v1/admin/reload", json={"bundle": str(bundles["ner"])})
        assert response.status_code == 403 and "--bundle-root" in response.json()["error"]
    finally:
        srv.stop()


def test_admin_routes_need_their_own_key_when_keys_are_used(bundles, tmp_path):
    keys, admin = tmp_path / "keys.txt", tmp_path / "admin.txt"
    keys.write_text(KEY + "\n")
    admin.write_text(ADMIN_KEY + "\n")
    body = {"bundle": str(bundles["ner"])}
    srv = Server(bundles["cls"], "--api-key-file", keys, "--bundle-root", bundles["tmp"], log_dir=tmp_path)
    try:  # keys but no admin keys: admin routes are off, even for a valid API key
        response = httpx.post(srv.url + "/v1/admin/reload", json=body, headers={"Authorization": f"Bearer {KEY}"})
        assert response.status_code == 403 and "admin" in response.json()["error"]
    finally:
        srv.stop()
    srv = Server(bundles["cls"], "--api-key-file", keys, "--admin-key-file", admin, "--bundle-root", bundles["tmp"],
                 log_dir=tmp_path)
    try:
        with_api_key = httpx.post(srv.url + "/v1/admin/reload", json=body, headers={"Authorization": f"Bearer {KEY}"})
        assert with_api_key.status_code == 401
        with_admin = httpx.post(srv.url + "/v1/admin/reload", json=body, timeout=60,
                                headers={"Authorization": f"Bearer {ADMIN_KEY}"})
        assert with_admin.status_code == 200 and with_admin.json()["task"] == "token_classification"
        assert str(bundles["tmp"]) not in with_admin.text  # paths are shown relative to the root
    finally:
        srv.stop()


def test_metrics_label_unknown_paths_as_unmatched(open_server):
    """Finding 6: the raw path was a label, so random paths grew /metrics without bound."""
    before = len(httpx.get(open_server.url + "/metrics").text)
    with httpx.Client() as client:
        for i in range(200):
            assert client.get(f"{open_server.url}/random-{i}-{'x' * 50}").status_code == 404
    text = httpx.get(open_server.url + "/metrics").text
    assert "random-" not in text
    assert 'tuneforge_requests_total{route="unmatched",status="404"} 200.0' in text
    assert len(text) < before + 4000  # one new series, not two hundred


def test_odd_json_gets_422_is_logged_and_keeps_the_connection(open_server):
    """Finding 8: deep nesting and huge integers gave 500s, no log line, no count, a reset connection."""
    deep = b"[" * 1000 + b"]" * 1000
    huge = b'{"text": "fine", "n": ' + b"7" * 5000 + b"}"
    nan = b'{"text": NaN}'
    with httpx.Client() as client:  # one keep-alive connection for all requests
        for body, message in ((deep, "nested"), (huge, "digits"), (nan, "not JSON")):
            response = client.post(open_server.url + "/v1/predict", content=body, headers=JSON)
            assert response.status_code == 422 and message in response.json()["error"]
        assert client.post(open_server.url + "/v1/predict", json={"text": "fun"}).status_code == 200
    statuses = wait_for(lambda: (s := [line["status"] for line in open_server.access_lines()
                                       if line["route"] == "/v1/predict"]).count(422) >= 3 and s, what="log lines")
    assert 500 not in statuses
    assert 'tuneforge_requests_total{route="/v1/predict",status="422"}' in httpx.get(open_server.url + "/metrics").text


@pytest.mark.parametrize("body, message", [
    ({"text": "fun", "text_pair": "dull"}, "single texts"),
    ({"text": "fun", "texts": ["dull"]}, "not both"),
    ({"texts": ["fun"], "text_pairs": ["dull"]}, "single texts"),
])
def test_ambiguous_or_unusable_fields_are_refused(open_server, body, message):
    """Finding 10: text_pair changed a single-text model's scores; text + texts silently used texts."""
    response = httpx.post(open_server.url + "/v1/predict", json=body)
    assert response.status_code == 422 and message in response.json()["error"]


def test_health_answers_head_and_hides_details_without_a_key(open_server):
    """Finding 10: HEAD gave 405; unauthenticated /readyz showed the bundle path (and exception text)."""
    assert httpx.head(open_server.url + "/livez").status_code == 200
    assert httpx.head(open_server.url + "/readyz").status_code == 200
    ready = httpx.get(open_server.url + "/readyz").json()
    assert ready == {"status": "ready"}


def test_readyz_details_only_with_a_key(bundles, tmp_path):
    keys = tmp_path / "keys.txt"
    keys.write_text(KEY + "\n")
    srv = Server(bundles["cls"], "--api-key-file", keys, log_dir=tmp_path, fail_after=0)
    try:
        broken = httpx.post(srv.url + "/v1/predict", json={"text": "fun"}, headers={"Authorization": f"Bearer {KEY}"})
        assert broken.status_code == 503  # the engine fails on every input, the warm-up probe too
        anonymous = httpx.get(srv.url + "/readyz")
        assert anonymous.status_code == 503 and anonymous.json() == {"status": "not ready", "reason": "engine_failed"}
        keyed = httpx.get(srv.url + "/readyz", headers={"Authorization": f"Bearer {KEY}"}).json()
        assert "test fault" in keyed["detail"]
    finally:
        srv.stop()


def test_non_ascii_api_keys_are_refused_at_start(bundles, tmp_path):
    """Finding 10: such a key was accepted at start and could never match."""
    keys = tmp_path / "keys.txt"
    keys.write_text("clé-secrète-0123456789\n", encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "tuneforge", "serve", str(bundles["cls"]), "--port", str(free_port()),
                           "--api-key-file", str(keys)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "printable ASCII" in proc.stderr and "Traceback" not in proc.stderr


def test_sigterm_answers_a_request_that_arrived_before_it(bundles, tmp_path):
    """Finding 10: a request received (body still arriving) when SIGTERM came got 503 "not ready: loading"."""
    srv = Server(bundles["cls"], log_dir=tmp_path, delay_ms=300)
    body = json.dumps({"text": "a great movie"}).encode()
    with socket.create_connection(("127.0.0.1", srv.port), timeout=30) as sock:
        head = (f"POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1:{srv.port}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        sock.sendall(head + body[:5])
        time.sleep(0.3)  # ordering, not waiting for a result: the server has the request before SIGTERM
        srv.proc.send_signal(signal.SIGTERM)
        wait_for(lambda: refuses_connections(srv.port), what="the server to stop accepting after SIGTERM")
        sock.sendall(body[5:])
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
    assert b'"predictions"' in answer
    assert srv.proc.wait(30) == 0


def test_a_bundle_the_server_cannot_reload_keeps_the_old_model(open_server, bundles):
    bad = bundles["tmp"] / "bad-bundle"
    shutil.copytree(bundles["cls"], bad, dirs_exist_ok=True)
    (bad / "model" / "modeling_evil.py").write_text("raise SystemExit('ran code from a bundle')\n")
    response = httpx.post(open_server.url + "/v1/admin/reload", json={"bundle": str(bad)}, timeout=60)
    assert response.status_code == 422 and "code" in response.json()["error"]
    assert str(bundles["tmp"]) not in response.text
    assert httpx.get(open_server.url + "/readyz").status_code == 200


def test_a_failure_inside_the_app_is_answered_logged_and_counted(caplog):
    """Finding 8: an exception inside the app gave no access-log line, no count, and a reset connection."""
    import asyncio

    from tuneforge.serve.app import GuardAndLog, ServeSettings, _metrics

    async def broken_app(scope, receive, send):
        raise RecursionError("maximum recursion depth exceeded")

    metrics = _metrics()
    guard = GuardAndLog(broken_app, ServeSettings(bundle="x"), metrics, {"/livez"}, lambda: {"/v1/predict"})
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/v1/predict", "headers": [
        (b"host", b"127.0.0.1:8000"), (b"content-type", b"application/json")]}
    with caplog.at_level("INFO", logger="tuneforge.serve.access"):
        asyncio.run(guard(scope, receive, send))
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 500
    assert metrics.requests.labels("/v1/predict", "500")._value.get() == 1
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.getMessage().startswith("{")]
    assert any(line.get("status") == 500 and line["route"] == "/v1/predict" for line in lines)
