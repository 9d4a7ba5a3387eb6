"""The README's "your own data in five minutes", followed literally: the test copies the commands out of
the README and runs them, on a 60-row CSV of its own, with the default backbone."""

from __future__ import annotations

import json
import os
import random
import re
import subprocess

import pytest

from .conftest import ROOT

SECTION = "## Your own data in five minutes"
POSITIVE = ["arrived quickly and works perfectly", "great value, I would buy it again", "excellent quality",
            "my kids love it", "does exactly what it promises", "fantastic service from start to finish"]
NEGATIVE = ["broke after two days", "a waste of money", "nobody answers my emails",
            "the worst purchase this year", "stopped working within a week", "arrived damaged and late"]
NEUTRAL = ["it is okay, nothing special", "average, as expected", "does the job", "fine for the price",
           "neither good nor bad", "it arrived on the date given"]


def readme_commands() -> list[str]:
    """The shell lines of the first bash block of the README's walkthrough (comments stripped)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index(SECTION):]
    section = section[:section.index("\n## ", len(SECTION))]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    return [line.split("  #")[0].strip() for line in block.splitlines() if line.strip()]


def sixty_reviews(path) -> None:
    rng = random.Random(0)
    rows = [(f"{rng.choice(texts)} ({i})", label) for i in range(20)
            for label, texts in (("positive", POSITIVE), ("negative", NEGATIVE), ("neutral", NEUTRAL))]
    rng.shuffle(rows)
    path.write_text("review,sentiment\n" + "".join(f'"{t}",{label}\n' for t, label in rows), encoding="utf-8")


def test_the_walkthrough_lists_the_commands_it_promises():
    commands = readme_commands()
    assert commands[0].startswith("source .venv/bin/activate")
    assert [c.split()[1] for c in commands[1:]] == ["init", "check", "train", "predict"]


@pytest.mark.slow
def test_the_readme_walkthrough_runs_as_written(tmp_path):
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")  # the repository folder after `make demo`
    sixty_reviews(tmp_path / "reviews.csv")
    script = "set -e\n" + "\n".join(readme_commands()) + "\n"
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env["PATH"] = "/usr/bin:/bin"  # nothing but what the walkthrough activates
    proc = subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=900, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (tmp_path / "reviews.yaml").is_file() and (tmp_path / "runs" / "reviews" / "report.html").is_file()
    prediction = json.loads(proc.stdout.strip().splitlines()[-1])
    assert prediction["label"] in {"positive", "negative", "neutral"}
    metrics = json.loads((tmp_path / "runs" / "reviews" / "metrics.json").read_text())
    assert metrics["accuracy"] > metrics["baseline"]["accuracy"], metrics


def test_the_readme_states_the_python_version_pyproject_requires_and_how_to_get_the_command():
    import tomllib

    required = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    minimum = required.removeprefix(">=")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    two_commands = readme[readme.index("## Two commands"):readme.index(SECTION)]
    assert f"Python {minimum} or newer" in two_commands
    assert "source .venv/bin/activate" in two_commands
    assert "source $(VENV)/bin/activate" in (ROOT / "Makefile").read_text()  # make demo prints the line too
