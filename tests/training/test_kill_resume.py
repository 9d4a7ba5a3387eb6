"""Training survives ``kill -9`` at random moments: every resume succeeds and no partial bundle ever loads.

A chain of ``tuneforge train`` processes on the tiny model, each killed with SIGKILL at a moment drawn
from a seeded ``random.Random``, then continued with ``tuneforge train --resume RUN_DIR``. Besides kills
after a random delay, some are triggered by watching the run folder, so that they land while Trainer
writes (or rotates) a checkpoint, while the bundle is being written, or just after it was renamed into
place. Where each kill landed is read from the run folder after the kill, not from what was aimed at.

After every process: a ``bundle`` folder, if there is one, verifies and loads and predicts; a process
that was not killed exited 0; no process printed a traceback. A run that finishes before its kill is
checked the same way as the final one, and the chain goes on with a new run folder.

The processes are forked from a warm parent that imported TuneForge's heavy modules once
(``kill_zygote.py``): a process spends its life setting up, training and writing, not importing torch.

``TUNEFORGE_KILL_SEED`` replays another seed (the default one is what CI runs).
"""

from __future__ import annotations

import json
import os
import random
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tuneforge.bundle import read_manifest
from tuneforge.predictor import Predictor
from tuneforge.training.checkpoints import is_complete

from ..conftest import NEGATIVE, POSITIVE, write_csv

SEED = int(os.environ.get("TUNEFORGE_KILL_SEED", "2024"))
KILLS = 20
MAX_STEPS = 20  # 3 steps an epoch: the run ends mid-epoch (a resume from its last checkpoint trains nothing)
MAX_PROCESSES = 45  # kills + runs that finished before their kill; more means the triggers do not work
POLL = 0.002  # seconds between looks at the run folder
# What each kill aims at, shuffled by the seed: a delay after launch (often still setting up), a delay after
# training began, the next (or a later) checkpoint write, the bundle write, the moment the bundle appeared.
AIMS = ["launch"] * 3 + ["work"] * 4 + ["checkpoint"] * 7 + ["bundle"] * 4 + ["after-bundle"] * 2
CHILD_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false",
             "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONUNBUFFERED": "1", "NO_COLOR": "1",
             "COLUMNS": "120"}


@dataclass
class Outcome:
    """One process of the chain: what it was, what its kill aimed at and where it landed."""

    index: int
    run: str
    resume: bool
    aim: str
    killed: bool
    landed: str
    seconds: float


class Zygote:
    """The warm parent (``kill_zygote.py``) and the one process it runs at a time."""

    def __init__(self, env: dict[str, str]):
        script = Path(__file__).with_name("kill_zygote.py")
        # unbuffered: readline takes one line off the pipe, so select() still sees a line that follows it
        self.proc = subprocess.Popen([sys.executable, str(script)], env=env, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, bufsize=0)
        assert self._line(timeout=300) == "ready", "the kill test's zygote did not start"

    def _line(self, timeout: float | None) -> str | None:
        """The next line the zygote prints, or None when none comes within ``timeout`` seconds."""
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            return None
        line = self.proc.stdout.readline()
        assert line, f"the kill test's zygote died (exit {self.proc.poll()})"
        return line.decode().strip()

    def spawn(self, args: list[str], cwd: Path, stderr: Path) -> "Forked":
        """Fork ``tuneforge ARGS`` in ``cwd``, its stderr to a file, in a process group of its own."""
        self.proc.stdin.write(json.dumps({"args": args, "cwd": str(cwd), "stderr": str(stderr)}).encode() + b"\n")
        return Forked(self, int(self._line(timeout=60)))

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


class Forked:
    """A process the zygote forked: ``poll`` and ``wait`` as ``subprocess.Popen`` has them."""

    def __init__(self, zygote: Zygote, pid: int):
        self.zygote, self.pid, self.returncode = zygote, pid, None

    def poll(self, timeout: float = 0.0) -> int | None:
        if self.returncode is None:
            line = self.zygote._line(timeout)
            if line is not None:
                assert line.startswith("exit "), line
                self.returncode = int(line.split()[1])
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.poll(timeout) is None:
            raise subprocess.TimeoutExpired("tuneforge", timeout)
        return self.returncode


def _write_config(folder: Path, model_dir: Path) -> Path:
    rows = [{"text": t, "label": "positive"} for t in POSITIVE] + [{"text": t, "label": "negative"} for t in NEGATIVE]
    reviews = write_csv(folder / "reviews.csv", rows)
    config = {
        "name": "kill-resume",
        "data": {"train": str(reviews), "split": {"validation": 0.25, "test": 0.25, "seed": 0}},
        "model": {"name": str(model_dir), "max_length": 32},
        # a checkpoint at every step: checkpoint writes take a large share of the training time
        "train": {"max_steps": MAX_STEPS, "batch_size": 4, "learning_rate": 1e-3, "eval_steps": 1,
                  "logging_steps": 1, "early_stopping_patience": None, "report_to": []},
        "output": {"keep_checkpoints": False},
    }
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def _checkpoints(run_dir: Path) -> dict[str, tuple[float, bool]]:
    """checkpoint-N folder name -> (mtime, complete); folders that vanish meanwhile are skipped.

    A folder's mtime changes when files are added to it or removed from it: a folder with an mtime
    after a process started was written (or was being deleted) by that process. Inodes would not do:
    a new checkpoint often gets the inode of the one Trainer just deleted.
    """
    found = {}
    try:
        entries = list(os.scandir(run_dir / "checkpoints"))
    except OSError:
        return found
    for entry in entries:
        if entry.name.startswith("checkpoint-"):
            try:
                found[entry.name] = (entry.stat().st_mtime, is_complete(Path(entry.path)))
            except OSError:
                pass
    return found


def _inode(path: Path) -> int | None:
    try:
        return path.stat().st_ino
    except OSError:
        return None


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _last_complete_step(before: dict[str, tuple[float, bool]]) -> int:
    return max((int(name.split("-")[1]) for name, (_, complete) in before.items() if complete), default=0)


def _watch_and_kill(proc: Forked, run_dir: Path, aim: str, rng: random.Random,
                    before: dict[str, tuple[float, bool]], log_size: int, launched: float) -> bool:
    """Poll the run folder until the moment ``aim`` draws comes, then SIGKILL; False if the process ended first."""
    started = time.monotonic()
    deadline = started + rng.uniform(0.0, 2.0) if aim == "launch" else None
    work_delay = rng.uniform(0.0, 3.0)  # "work": after the process logged that training begins
    remaining = MAX_STEPS - _last_complete_step(before)
    skip = rng.randint(0, max(0, min(10, remaining - 1)))  # "checkpoint": let this many new ones pass
    pause = rng.uniform(0.0, 0.006) if aim == "checkpoint" else rng.uniform(0.0, 0.003)
    passed: set[str] = set()  # checkpoints this process wrote that were let pass
    bundle_before = _inode(run_dir / "bundle")
    partial = run_dir / f".bundle.partial-{proc.pid}"
    while proc.poll() is None:
        now = time.monotonic()
        fire = False
        if aim == "launch":
            fire = now >= deadline
        elif aim == "work":
            if deadline is None and _size(run_dir / "train.log") > log_size:
                new_lines = (run_dir / "train.log").read_bytes()[log_size:]
                if b"parameters train" in new_lines:
                    deadline = now + work_delay
            fire = deadline is not None and now >= deadline
        elif aim == "checkpoint":
            for name, (mtime, complete) in sorted(_checkpoints(run_dir).items(), key=lambda kv: kv[1][0]):
                if mtime >= launched and name not in passed and (name not in before or not before[name][1]):
                    if skip <= 0 and not complete:
                        fire = True
                        break
                    passed.add(name)
                    skip -= 1
        elif aim == "bundle":
            fire = partial.exists()
        elif aim == "after-bundle":
            inode = _inode(run_dir / "bundle")
            fire = inode is not None and inode != bundle_before
        if fire:
            if aim in ("checkpoint", "bundle"):
                time.sleep(pause)
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            return proc.wait() == -signal.SIGKILL
        time.sleep(POLL)
    return False


def _landed(run_dir: Path, pid: int, launched: float, before: dict[str, tuple[float, bool]],
            bundle_before: int | None, log_size: int) -> str:
    """Where a kill landed, from what the killed process left in the run folder."""
    if (run_dir / f".bundle.partial-{pid}").exists():
        return "bundle write"
    if (run_dir / f".bundle.old-{pid}").exists():
        return "bundle swap"
    if (run_dir / f".checkpoints.removing-{pid}").exists():
        return "checkpoints removal"
    if list((run_dir / "checkpoints").glob(f".checkpoint-*.removing-{pid}")):
        return "resume clean-up"
    after = _checkpoints(run_dir)
    # incomplete, and written or being deleted by this process (an older leftover is not its doing)
    broken = [name for name, (mtime, complete) in after.items() if not complete and mtime >= launched]
    if broken:
        newest = max(after, key=lambda name: int(name.split("-")[1]))
        return "checkpoint write" if newest in broken else "checkpoint rotation"
    bundle = _inode(run_dir / "bundle")
    if bundle is not None and bundle != bundle_before:
        return "after bundle"
    history = run_dir / "log_history.json"
    if history.exists() and history.stat().st_mtime >= launched:
        return "evaluation/report"
    if any(mtime >= launched for mtime, _ in after.values()):
        return "training"
    if _size(run_dir / "train.log") > log_size:
        return "setup"
    return "start-up"


def _check_bundle(run_dir: Path) -> None:
    """A bundle folder, when there is one, is whole: it verifies, loads and predicts."""
    bundle = run_dir / "bundle"
    if not bundle.exists():
        return
    read_manifest(bundle)  # raises BundleError for anything partial or mismatched
    predictor = Predictor.load(bundle)
    assert predictor.predict_texts(["a fun movie"])[0]["label"] in ("positive", "negative")


def _check_finished(run_dir: Path) -> None:
    """A run whose process exited 0: bundle, metrics and a log history with every step logged once."""
    bundle = run_dir / "bundle"
    assert bundle.is_dir() and (run_dir / "metrics.json").is_file()
    _check_bundle(run_dir)
    history = json.loads((run_dir / "log_history.json").read_text(encoding="utf-8"))
    steps = [entry["step"] for entry in history if "loss" in entry]
    assert sorted(steps) == list(range(1, MAX_STEPS + 1)), f"training-loss steps logged: {sorted(steps)}"
    assert not list(run_dir.glob(".bundle.partial-*")) and not list(run_dir.glob(".bundle.old-*"))
    assert not list(run_dir.glob(".checkpoints.removing-*")), "a killed run's checkpoints were left on disk"


@pytest.fixture
def zygote():
    """The warm parent that forks the ``tuneforge`` processes; closed (and reaped) after the test."""
    parent = Zygote({**os.environ, **CHILD_ENV})
    yield parent
    parent.close()


def test_training_survives_kill_at_random_moments(tiny_model_dir, tmp_path, zygote):
    rng = random.Random(SEED)
    config = _write_config(tmp_path, tiny_model_dir)
    aims = AIMS[:]
    rng.shuffle(aims)
    outcomes: list[Outcome] = []
    kills = 0
    runs = 0
    run_dir = tmp_path / "run-0"
    started = time.monotonic()

    def launch(aim: str | None) -> Outcome:
        resume = (run_dir / "config.yaml").is_file()  # killed before config.yaml was written: start again
        args = ["--resume", str(run_dir)] if resume else [str(config), f"output.dir={run_dir}"]
        before = _checkpoints(run_dir)
        bundle_before = _inode(run_dir / "bundle")
        log_size = _size(run_dir / "train.log")
        index = len(outcomes)
        err_path = tmp_path / f"process-{index}.stderr"
        # mtimes at or after launched_wall are this process's doing: the previous one is dead (and reaped),
        # and an interpreter needs far longer than a clock tick to write anything
        launched_wall, launched = time.time(), time.monotonic()
        proc = zygote.spawn(["train", *args], cwd=tmp_path, stderr=err_path)
        try:
            if aim is None:
                proc.wait(timeout=300)
                killed = False
            else:
                killed = _watch_and_kill(proc, run_dir, aim, rng, before, log_size, launched_wall)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        stderr = err_path.read_text(encoding="utf-8", errors="replace")
        what = f"process {index} ({'train --resume' if resume else 'train'} {run_dir.name}, aim {aim})"
        if not killed:
            assert proc.returncode == 0, f"{what} exited {proc.returncode}:\n{stderr[-3000:]}"
        assert "Traceback" not in stderr, f"{what} printed a traceback:\n{stderr[-3000:]}"
        landed = (_landed(run_dir, proc.pid, launched_wall, before, bundle_before, log_size)
                  if killed else "finished")
        try:
            _check_bundle(run_dir)  # no partial bundle ever loads; every bundle that exists loads
        except Exception as exc:
            raise AssertionError(f"after {what}, landed {landed}: bundle does not load: {exc}") from exc
        outcome = Outcome(index, run_dir.name, resume, aim or "none", killed, landed, time.monotonic() - launched)
        outcomes.append(outcome)
        return outcome

    while kills < KILLS:
        assert len(outcomes) < MAX_PROCESSES, _summary(outcomes, tmp_path)
        checkpoints = _checkpoints(run_dir)
        if _finished(run_dir, checkpoints):
            # killed after the bundle, once no checkpoint was left: the resume returns the finished run
            launch(None)
        else:
            aim = aims[kills]
            if aim == "checkpoint" and _last_complete_step(checkpoints) >= MAX_STEPS:
                # no checkpoint left to write: aim at something that is still to come
                later = [i for i in range(kills + 1, KILLS) if aims[i] != "checkpoint"]
                if later:
                    aims[kills], aims[later[0]] = aims[later[0]], aims[kills]
            outcome = launch(aims[kills])
            if outcome.killed:
                kills += 1
                continue
        # the process ended before its kill: a complete run; the chain goes on in a new folder
        _check_finished(run_dir)
        runs += 1
        run_dir = tmp_path / f"run-{runs}"
    launch(None)  # the final resume: it must finish
    _check_finished(run_dir)
    summary = _summary(outcomes, tmp_path) + f"\ntotal {time.monotonic() - started:.1f}s"
    print(summary)
    landed = [o.landed for o in outcomes if o.killed]
    assert landed.count("checkpoint write") + landed.count("checkpoint rotation") >= 3, summary
    assert landed.count("bundle write") >= 1, summary
    assert sum(o.resume and not o.killed for o in outcomes) >= 1, summary


def _finished(run_dir: Path, checkpoints: dict[str, tuple[float, bool]]) -> bool:
    """What ``train --resume`` takes for a finished run: a bundle and metrics, no complete checkpoint."""
    return ((run_dir / "bundle" / "tuneforge.json").is_file() and (run_dir / "metrics.json").is_file()
            and not any(complete for _, complete in checkpoints.values()))


def _summary(outcomes: list[Outcome], folder: Path) -> str:
    lines = [f"seed {SEED}: {sum(o.killed for o in outcomes)} kills in {len(outcomes)} processes"]
    for o in outcomes:
        lines.append(f"  {o.index:2d} {o.run} {'resume' if o.resume else 'train '} aim {o.aim:12s} "
                     f"{'killed' if o.killed else 'exited'} {o.landed:20s} {o.seconds:5.1f}s")
    counts: dict[str, int] = {}
    for o in outcomes:
        if o.killed:
            counts[o.landed] = counts.get(o.landed, 0) + 1
    lines.append("  landed: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    leftovers = sorted(p.relative_to(folder).as_posix() for p in folder.glob("run-*/.*"))
    lines.append("  hidden entries left in run folders: " + (", ".join(leftovers) or "none"))
    return "\n".join(lines)
