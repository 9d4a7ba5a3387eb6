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


def test_every_path_an_edited_yaml_names_is_checked(workdir, tmp_path):
    """Not only the data files: the search space's choices, augmentation files, DeepSpeed configs and
    URLs (an MLflow server) are refused from the UI too (found by an attack probe)."""
    import yaml

    from tuneforge.config import build_config
    from tuneforge.ui.newrun import check_paths

    roots = [workdir, workdir / "runs"]
    base = yaml.safe_load(tiny_yaml(workdir))
    check_paths(build_config(base), roots)  # the plain config passes
    outside = str(tmp_path / "secret.csv")
    for key, edit in [
        ("tune.space", {"tune": {"space": {"data.train": {"choices": [outside]}}}}),
        ("train.deepspeed", {"train": {**base["train"], "deepspeed": outside}}),
        ("train.mlflow_tracking_uri", {"train": {**base["train"], "mlflow_tracking_uri": "http://attacker.example"}}),
        ("data.validation", {"data": {**base["data"], "validation": "../../elsewhere.csv"}}),
    ]:
        with pytest.raises((PathRefused, ConfigError)):
            check_paths(build_config({**base, **edit}), roots)


def test_a_run_name_never_leaves_the_runs_folder(client, workdir):
    escaping = tiny_yaml(workdir).replace("name: tiny", "name: ../../escape")
    started = client.post("/new/start", data={"yaml": escaping, "name": "x", "kind": "tune", "trials": "1"},
                          follow_redirects=False)
    assert started.status_code == 422 and "only files inside" in started.text
    assert not client.app.state.ui.jobs.listing() and not list(workdir.parent.glob("escape*"))


def test_symlinked_run_files_are_not_served(client, workdir, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET")
    run = workdir / "runs" / "evil"
    run.mkdir()
    for name in ("report.html", "train.log", "config.yaml", "FAILED"):
        (run / name).symlink_to(secret)
    assert "TOPSECRET" not in client.get("/report/run/evil").text
    assert "TOPSECRET" not in client.get("/runs/evil").text
    assert "TOPSECRET" not in client.get("/runs").text


def test_chunked_forms_cross_site_reads_and_key_guessing_are_refused(workdir):
    made = make_client(workdir, api_keys=[KEY])
    chunks = (b"x" * 1024 for _ in range(4))
    assert made.post("/api/yaml", content=chunks, headers={"Authorization": f"Bearer {KEY}"}).status_code == 411
    assert made.get("/runs", headers={"Sec-Fetch-Site": "cross-site",
                                      "Authorization": f"Bearer {KEY}"}).status_code == 403
    answers = [made.post("/login", data={"key": f"wrong-key-{i:02d}-0123456789"}).status_code for i in range(11)]
    assert answers[:10] == [401] * 10 and answers[10] == 429
    assert made.post("/login", data={"key": KEY}).status_code == 429  # even the right key waits
