"""The web interface in a real browser: headless Chromium (Debian's ``chromium`` package, driven by Playwright
for Python; no browser download) against ``tuneforge ui`` in its own process. Open the runs page and a
run's report, start a tiny training run from the form, watch it finish, try the bundle it made.

Screenshots go to ``runs/ui-screenshots/`` (CI keeps them); with ``TUNEFORGE_UPDATE_SCREENSHOTS=1`` the
main pages are also copied to ``docs/ui/`` for the README.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tuneforge.methods import DEFAULT_METHOD

from ..conftest import train_tiny_bundle

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "runs" / "ui-screenshots"
DOCS = ROOT / "docs" / "ui"
README_SHOTS = ("runs", "run", "new", "job", "try", "compare")
CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def browser():
    """Headless Chromium, or a skip that says what is missing."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("the browser tests need Playwright for Python: pip install playwright==1.65.2 "
                    "(no 'playwright install': they drive Debian's chromium)")
    if CHROMIUM is None:
        pytest.skip("the browser tests need Chromium: apt-get install chromium (make tools does it as root)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                              args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def served(tmp_path, tiny_model_dir, sentiment_csv):
    """``tuneforge ui`` on a free loopback port over a folder holding the data, the tiny model and one run."""
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(sentiment_csv, work / "reviews.csv")
    shutil.copytree(tiny_model_dir, work / "tiny-bert")
    (work / "runs" / "first").mkdir(parents=True)
    train_tiny_bundle(tiny_model_dir, work / "runs" / "first", train={"epochs": 3, "batch_size": 4, "logging_steps": 1, "report_to": []})
    port = _free_port()
    log = open(tmp_path / "ui.log", "wb")
    server = subprocess.Popen([sys.executable, "-m", "tuneforge", "ui", "--runs", "runs", "--port", str(port)],
                              cwd=work, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                log.close()
                pytest.fail(f"tuneforge ui did not start:\n{(tmp_path / 'ui.log').read_text()[-3000:]}")
            time.sleep(0.1)
    try:
        yield f"http://127.0.0.1:{port}", work
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        log.close()


def _shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    if os.environ.get("TUNEFORGE_UPDATE_SCREENSHOTS") == "1" and name in README_SHOTS:
        DOCS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(DOCS / f"{name}.png"), full_page=False)


@pytest.mark.serial
def test_train_watch_and_try_in_the_browser(browser, served):
    from playwright.sync_api import expect

    base, work = served
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)

    # the runs page, then a run's report
    page.goto(f"{base}/runs")
    page.get_by_role("link", name="first/run").wait_for()
    _shot(page, "runs")
    page.get_by_role("link", name="first/run").click()
    page.wait_for_selector("#report-frame")
    report = page.frame_locator("#report-frame")
    assert "accuracy" in report.locator("body").inner_text(timeout=10_000).lower()
    _shot(page, "run")

    # a new run from the form: the data path, its preview, the method, the YAML
    page.goto(f"{base}/new")
    page.fill("#data-path", "reviews.csv")
    page.click("#preview-button")
    page.wait_for_selector("#preview-table")
    assert page.inner_text("#label-column") == "label" and page.inner_text("#text-column") == "text"
    page.select_option("#method-select", DEFAULT_METHOD)
    page.fill("#model-input", "tiny-bert")
    page.press("#model-input", "Tab")
    expect(page.locator("#yaml")).to_have_value(re.compile("tiny-bert"))  # the form rewrote the YAML
    assert f"name: {DEFAULT_METHOD}" in page.input_value("#yaml")
    _shot(page, "new")
    page.click("#start")

    # its job page follows it live until it finishes
    page.wait_for_url("**/jobs/*")
    page.locator('#job:not([data-state="running"])').wait_for(timeout=120_000)  # the page reloads when done
    assert page.inner_text("#job-state") == "finished", page.inner_text("#log")
    assert "step" in page.inner_text("#steps")
    _shot(page, "job")

    # try the bundle it made
    page.click("#job-try-link")
    page.fill("#try-text", "a great movie , i love this film")
    page.check("#try-explain")
    page.click("#predict")
    page.wait_for_selector("#predicted-label")
    assert page.inner_text("#predicted-label") in ("positive", "negative")
    assert page.locator("#explanation .attr").count() > 0
    _shot(page, "try")

    # the new run beside the first one
    page.goto(f"{base}/runs")
    for box in page.locator("input[name=run]").all():
        box.check()
    page.click("#compare-runs")
    page.wait_for_selector("#compare-table")
    _shot(page, "compare")
    assert not errors, errors
