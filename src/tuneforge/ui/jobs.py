"""Jobs the web interface starts: ordinary ``python -m tuneforge train|compare|tune|data check`` processes,
each in its own process group, writing ordinary run folders. The UI's own files (the YAML it ran, the
console output, the job record) live in ``<runs>/.ui/jobs/<id>/``, never in the run folder, which
``tuneforge train`` keeps for run files only. Several jobs run at once; cancelling one interrupts its
process group (SIGINT, then SIGKILL after a grace period) and writes ``CANCELLED`` into its output folder.

Example:
    >>> jobs = JobManager(Path("runs"))
    >>> job = jobs.start("train", ["train", "runs/.ui/jobs/ab12/reviews.yaml", "output.dir=runs/reviews-20261130"],
    ...                  name="reviews", out_dir=Path("runs/reviews-20261130"), folder=Path("runs/.ui/jobs/ab12"))
    >>> jobs.cancel(job.id)
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import TuneForgeError
from ..fileops import atomic_write_text
from .paths import new_token
from .runs_index import CANCELLED

log = logging.getLogger("tuneforge")

CONSOLE = "console.log"
RECORD = "job.json"
GRACE_SECONDS = 15.0  # after SIGINT, how long a run may take to stop before SIGKILL
KINDS = ("train", "compare", "tune", "check")


class TooManyJobs(TuneForgeError):
    """More jobs running than the UI allows at once."""


@dataclass
class Job:
    """One process the UI started, as recorded in ``job.json``."""

    id: str
    kind: str
    name: str
    args: list[str]
    folder: str  # the UI's own folder for this job (YAML, console output, record)
    out_dir: str  # the run (or comparison, search, data check) folder the process writes
    started: float
    pid: int | None = None
    returncode: int | None = None
    ended: float | None = None
    cancelled: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def state(self) -> str:
        """running, finished, failed or cancelled (lost: started by an earlier UI process that is gone)."""
        if self.cancelled:
            return "cancelled"
        if self.returncode is None:
            return "running" if self.ended is None else "lost"
        return "finished" if self.returncode == 0 else "failed"

    @property
    def console(self) -> Path:
        """The file holding everything the process printed."""
        return Path(self.folder) / CONSOLE


class JobManager:
    """Starts, watches and cancels the UI's processes; remembers them across restarts in ``job.json`` files."""

    def __init__(self, runs_dir: Path, cwd: Path | None = None, max_running: int = 4) -> None:
        self.runs_dir = Path(runs_dir)
        self.root = self.runs_dir / ".ui" / "jobs"
        self.cwd = Path(cwd or Path.cwd())
        self.max_running = max_running
        self.jobs: dict[str, Job] = {}
        self.processes: dict[str, subprocess.Popen] = {}
        self.lock = threading.RLock()
        self._load()

    def _load(self) -> None:
        """Jobs recorded by earlier UI processes: shown with their output; those that were running are lost."""
        if not self.root.is_dir():
            return
        for record in self.root.glob(f"*/{RECORD}"):
            try:
                job = Job(**json.loads(record.read_text(encoding="utf-8")))
            except (OSError, ValueError, TypeError):
                continue
            if job.returncode is None and job.ended is None:
                job.ended = record.stat().st_mtime  # its process belonged to another UI: no longer ours to watch
            self.jobs[job.id] = job

    def new_folder(self) -> tuple[str, Path]:
        """A fresh job id and its folder (created)."""
        job_id = new_token(6)
        folder = self.root / job_id
        folder.mkdir(parents=True, exist_ok=False)
        return job_id, folder

    def running(self) -> list[Job]:
        """Jobs whose process is still alive."""
        with self.lock:
            return [j for j in self.jobs.values() if j.state == "running" and j.id in self.processes]

    def running_folders(self) -> set[Path]:
        """The resolved output folders of running jobs (what the runs table marks running)."""
        return {Path(j.out_dir).resolve() for j in self.running()}

    def start(self, kind: str, args: list[str], name: str, out_dir: Path, folder: Path, job_id: str,
              extra: dict[str, Any] | None = None) -> Job:
        """Start ``python -m tuneforge ARGS`` in its own process group, printing into the job's console file."""
        if kind not in KINDS:
            raise TuneForgeError(f"unknown job kind {kind!r}")
        with self.lock:
            if len(self.running()) >= self.max_running:
                raise TooManyJobs(f"{self.max_running} jobs are running already; wait for one or cancel one")
            job = Job(id=job_id, kind=kind, name=name, args=list(args), folder=str(folder), out_dir=str(out_dir),
                      started=time.time(), extra=dict(extra or {}))
            env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "160", "TERM": "dumb"}
            env.pop("TUNEFORGE_LAUNCHED", None)
            with open(job.console, "wb") as console:
                process = subprocess.Popen([sys.executable, "-m", "tuneforge", *args], cwd=self.cwd, env=env,
                                           stdin=subprocess.DEVNULL, stdout=console, stderr=subprocess.STDOUT,
                                           start_new_session=True)
            job.pid = process.pid
            self.jobs[job.id] = job
            self.processes[job.id] = process
            self._save(job)
        threading.Thread(target=self._watch, args=(job, process), daemon=True, name=f"ui-job-{job.id}").start()
        log.info("ui: started %s job %s (pid %d): %s", kind, job.id, process.pid, " ".join(args))
        return job

    def _watch(self, job: Job, process: subprocess.Popen) -> None:
        code = process.wait()
        with self.lock:
            job.returncode = code
            job.ended = time.time()
            self.processes.pop(job.id, None)
            if job.cancelled:
                mark_cancelled(Path(job.out_dir))
            self._save(job)

    def _save(self, job: Job) -> None:
        atomic_write_text(Path(job.folder) / RECORD, json.dumps(asdict(job), indent=1))

    def get(self, job_id: str) -> Job | None:
        """The job with this id, or None."""
        with self.lock:
            return self.jobs.get(job_id)

    def listing(self) -> list[Job]:
        """Every job, newest first."""
        with self.lock:
            return sorted(self.jobs.values(), key=lambda j: j.started, reverse=True)

    def cancel(self, job_id: str, grace: float = GRACE_SECONDS) -> Job:
        """Interrupt the job's process group (SIGINT: the run stops as on Ctrl-C), SIGKILL it if it has not
        ended after ``grace`` seconds, and mark its output folder ``CANCELLED``."""
        with self.lock:
            job = self.jobs.get(job_id)
            process = self.processes.get(job_id)
            if job is None:
                raise TuneForgeError(f"no job {job_id}")
            if process is None or job.state != "running":
                raise TuneForgeError(f"job {job_id} is not running ({job.state})")
            job.cancelled = True
            self._save(job)
        _signal_group(process, signal.SIGINT)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            _signal_group(process, signal.SIGKILL)
            process.wait(timeout=10)
        mark_cancelled(Path(job.out_dir))
        deadline = time.time() + 5  # the watcher records the exit code
        while job.returncode is None and time.time() < deadline:
            time.sleep(0.02)
        return job

    def shutdown(self, grace: float = 5.0) -> None:
        """Cancel every running job (the UI is stopping; its runs would be orphans)."""
        for job in self.running():
            try:
                self.cancel(job.id, grace)
            except TuneForgeError:
                pass


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(process.pid, sig)  # start_new_session: the group id is the process id
    except (ProcessLookupError, PermissionError):
        pass


def mark_cancelled(out_dir: Path) -> None:
    """Write ``CANCELLED`` (when and why) into a run folder, creating it if the run had not started yet."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out_dir / CANCELLED, f"cancelled from the web interface at {time.ctime()}\n")
    except OSError as exc:
        log.warning("ui: could not mark %s cancelled: %s", out_dir, exc)
