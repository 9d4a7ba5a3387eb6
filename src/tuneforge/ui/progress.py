"""Live progress of a job read from what its process prints: Trainer's progress bar (steps, ETA, loss),
evaluation lines, trial results of a search and the methods of a comparison, and the error line of a
failed run.

Example:
    >>> parse_console("  40%|####      | 4/10 [00:02<00:03,  2.0it/s, loss=0.6931]")
    {'step': 4, 'total': 10, 'percent': 40.0, 'elapsed': '00:02', 'eta': '00:03', 'loss': 0.6931, ...}
"""

from __future__ import annotations

import re
from typing import Any

# tqdm: "{desc}: {percent}%|{bar}| {n}/{total} [{elapsed}<{remaining}, {rate}{postfix}]"
BAR = re.compile(r"(?:(?P<desc>[^\n|]*?):\s*)?(?P<percent>\d+)%\|[^|\n]*\|\s*(?P<step>\d+)/(?P<total>\d+)\s*"
                 r"\[(?P<elapsed>[\d:]+)<(?P<eta>[\d:?]+)(?:,\s*(?P<rate>[^,\]]*))?(?P<post>[^\]]*)\]")
LOSS = re.compile(r"loss=([-+\d.eE]+|nan)")
EVALUATION = re.compile(r"evaluation at step (\d+) \(epoch ([\d.]+)\): (.*)")
TRIAL = re.compile(r"trial (\d+) (complete|pruned|fail|failed|running)\b\s*([-+\d.eE]+)?")
COMPARE = re.compile(r"compare (\d+)/(\d+): (\S+)")
ERROR = re.compile(r"^\s*error:\s*(.+)$", re.MULTILINE)
RICH_LEVEL = re.compile(r"^(INFO|WARNING|ERROR|DEBUG|CRITICAL)\s+")


def console_lines(text: str) -> list[str]:
    """The printed text as lines, each progress-bar redraw (carriage return) a line of its own."""
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def parse_console(text: str) -> dict[str, Any]:
    """Progress facts from a job's console output: the latest progress bar, the last evaluation, the
    trials of a search, the method a comparison is on, and the error line, if any."""
    lines = console_lines(text)
    facts: dict[str, Any] = {"step": None, "total": None, "percent": None, "elapsed": None, "eta": None,
                             "loss": None, "bar": None, "evaluation": None, "trials": [], "compare": None,
                             "error": None}
    for line in lines:
        bar = BAR.search(line)
        if bar and (bar["desc"] or "").strip():  # another bar (a method's own recipe, a data tool): the activity
            facts["bar"] = f"{bar['desc'].strip()}: {bar['step']}/{bar['total']}"
            continue
        if bar:  # Trainer's bar has no description
            facts.update(step=int(bar["step"]), total=int(bar["total"]), percent=float(bar["percent"]),
                         elapsed=bar["elapsed"], eta=bar["eta"], bar=None)
            loss = LOSS.search(bar["post"] or "")
            if loss:
                facts["loss"] = float(loss.group(1))
            continue
        plain = RICH_LEVEL.sub("", line.strip())
        evaluation = EVALUATION.search(plain)
        if evaluation:
            facts["evaluation"] = {"step": int(evaluation.group(1)), "epoch": float(evaluation.group(2)),
                                   "scores": evaluation.group(3).strip()}
        trial = TRIAL.search(plain)
        if trial:
            row = {"trial": int(trial.group(1)), "state": trial.group(2),
                   "value": float(trial.group(3)) if trial.group(3) else None}
            facts["trials"] = [t for t in facts["trials"] if t["trial"] != row["trial"]] + [row]
        compare = COMPARE.search(plain)
        if compare:
            facts["compare"] = {"number": int(compare.group(1)), "of": int(compare.group(2)),
                                "method": compare.group(3)}
    errors = ERROR.findall("\n".join(RICH_LEVEL.sub("", line) for line in lines))
    if errors:
        facts["error"] = errors[-1].strip()[:2000]
    return facts


def readable_log(text: str, lines: int = 200) -> str:
    """The console output as a reader wants it: progress-bar redraws collapsed to the latest one."""
    kept: list[str] = []
    for line in console_lines(text):
        if not line.strip():
            continue
        if BAR.search(line) and kept and BAR.search(kept[-1]):
            kept[-1] = line
        else:
            kept.append(line)
    return "\n".join(kept[-lines:])
