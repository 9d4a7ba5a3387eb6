"""Who may use the UI and from where: keys off loopback, the login and its cookie, Host and Origin checks,
paths that stay inside the allowed folders."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from tuneforge.cli import app as cli
from tuneforge.errors import ConfigError
from tuneforge.ui.app import create_app
from tuneforge.ui.paths import PathRefused, inside

from .conftest import KEY, LOCAL, make_client, tiny_yaml


def test_off_loopback_needs_keys(workdir):
    with pytest.raises(ConfigError, match="api-key-file"):
        create_app(workdir / "runs", api_keys=[], host="0.0.0.0", cwd=workdir)
    create_app(workdir / "runs", api_keys=[KEY], host="0.0.0.0", cwd=workdir)  # with keys it may


def test_the_command_refuses_to_start_off_loopback_without_keys(workdir, monkeypatch):
    monkeypatch.chdir(workdir)
    result = CliRunner().invoke(cli, ["ui", "--host", "0.0.0.0", "--runs", str(workdir / "runs")])
    assert result.exit_code == 2
    assert "api-key-file" in result.output and "Traceback" not in result.output


def test_login_sets_a_strict_session_cookie(workdir):
    client = make_client(workdir, api_keys=[KEY])
    response = client.get("/runs", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/login?next=")
    assert client.get("/api/jobs/x").status_code == 401
    refused = client.post("/login", data={"key": "wrong-key-0123456789", "next": "/runs"}, follow_redirects=False)
    assert refused.status_code == 401 and "not valid" in refused.text
    assert "set-cookie" not in refused.headers
    accepted = client.post("/login", data={"key": KEY, "next": "/runs"}, follow_redirects=False)
    assert accepted.status_code == 303 and accepted.headers["location"] == "/runs"
    cookie = accepted.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and KEY.lower() not in cookie
    assert client.get("/runs").status_code == 200
    client.post("/logout")
    assert client.get("/runs", follow_redirects=False).status_code == 303


def test_a_key_header_works_without_a_session(workdir):
    client = make_client(workdir, api_keys=[KEY])
    assert client.get("/runs", headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
    assert client.get("/runs", headers={"Authorization": "Bearer nope-nope-nope-nope"},
                      follow_redirects=False).status_code == 303


def test_login_redirects_stay_on_this_server(workdir):
    client = make_client(workdir, api_keys=[KEY])
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        response = client.post("/login", data={"key": KEY, "next": target}, follow_redirects=False)
        assert response.headers["location"] == "/"


def test_other_sites_and_rebound_names_are_refused(client, workdir):
    posted = client.post("/new/start", data={"yaml": tiny_yaml(workdir), "name": "x", "kind": "train"},
                         headers={"Origin": "http://evil.example"}, follow_redirects=False)
    assert posted.status_code == 403
    assert not list((workdir / "runs").glob("x-*"))  # nothing started
    assert client.get("/runs", headers={"Host": "evil.example"}).status_code == 421
    same = client.get("/runs", headers={"Origin": LOCAL})
    assert same.status_code == 200
    assert "frame-ancestors 'none'" in same.headers["content-security-policy"]
    # not no-referrer: under it Chrome sends "Origin: null" with the UI's own form posts, which would be refused
    assert same.headers["referrer-policy"] == "same-origin"


def test_user_paths_stay_inside_the_allowed_folders(workdir, tmp_path):
    secret = tmp_path / "secret.csv"
    secret.write_text("text,label\nhidden words,a\n")
    (workdir / "escape.csv").symlink_to(secret)
    roots = [workdir, workdir / "runs"]
    assert inside("reviews.csv", roots) == (workdir / "reviews.csv").resolve()
    for given in ("../secret.csv", str(secret), "escape.csv", "runs/../../secret.csv", "~/x.csv", ""):
        with pytest.raises(PathRefused):
            inside(given, roots)


def test_pages_refuse_outside_paths_without_reading_them(client, workdir, tmp_path):
    secret = tmp_path / "secret.csv"
    secret.write_text("text,label\nhidden words,a\n")
    page = client.get("/new", params={"data": str(secret)})
    assert page.status_code == 422 and "only files inside" in page.text and "hidden words" not in page.text
    missing = client.get("/new", params={"data": str(tmp_path / "nothing.csv")})
    assert "only files inside" in missing.text  # the same answer whether or not it exists
    yaml_answer = client.post("/api/yaml", json={"data": str(secret)})
    assert yaml_answer.status_code == 422
    outside_yaml = tiny_yaml(workdir).replace(str(workdir / "reviews.csv"), str(secret))
    started = client.post("/new/start", data={"yaml": outside_yaml, "name": "x", "kind": "train"})
    assert started.status_code == 422 and "only files inside" in started.text
    assert client.get("/try", params={"path": str(tmp_path)}).status_code == 422


def test_oversized_forms_are_refused_unread(client):
    response = client.post("/new/start", content=b"yaml=" + b"x" * (3 * 2**20),
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 413 and "too large" in response.text
