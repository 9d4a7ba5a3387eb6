"""``--backend auto``: the fastest accepted way to run a bundle on this CPU, by a short measurement.

The candidates are PyTorch (in the precision its parity gate allows, see ``tuneforge.inference_precision``)
and every export variant the bundle's manifest marks accepted (ONNX Runtime fp32, dynamic and static
int8, OpenVINO fp32 and int8). Each one predicts the same short workload (8 single texts, then 2 batches
of 8 and of 32); the one with the least total time wins. Where one candidate answers single texts fastest
and another batches of 32, both are kept: the first takes small batches, the second large ones
(``tuneforge.export.size_router``). The choice is cached per bundle (its manifest digest)
and CPU model in TuneForge's cache folder (``$TUNEFORGE_HOME/backend-choices``): bundle folders are
verified byte for byte, so nothing is written into them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from pathlib import Path
from typing import Any, Callable

log = logging.getLogger("tuneforge")

WORKLOAD_TEXTS = [
    "the delivery arrived two days late and the box was damaged",
    "an absolutely wonderful experience from start to finish, I would recommend it to anyone",
    "not sure what to think about this one",
    "the support team answered quickly and fixed my problem",
    "terrible quality, it broke after one week of normal use and nobody replied to my emails",
    "works as described",
    "the plot was slow but the acting made up for it in the second half",
    "I want to change the address on my order before it ships",
]
SINGLES = 8
BATCHES = 2
BATCH_SIZE = 32
MIDDLE_SIZE = 8  # a batch size between the two: which side of the router takes batches of 2-8


def cache_folder() -> Path:
    """Where choices are cached: ``$TUNEFORGE_HOME/backend-choices``, else the platform cache folder."""
    from ..cache_dirs import cache_dir

    return cache_dir("backend-choices")


def _cpu_key() -> str:
    from ..precision import cpu_flags, cpu_model

    text = cpu_model() + "|" + " ".join(sorted(cpu_flags())) + f"|{os.cpu_count()}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _cache_file(root: Path) -> Path | None:
    from ..bundle import DIGEST

    try:
        digest = (root / DIGEST).read_text(encoding="utf-8").strip()[:16]
    except OSError:
        return None
    return cache_folder() / f"{digest}-{_cpu_key()}.json"


def forget_choice(root: str | Path) -> None:
    """Drop the cached choice of a bundle (its variants changed)."""
    for path in cache_folder().glob("*.json") if cache_folder().is_dir() else ():
        try:
            if json.loads(path.read_text(encoding="utf-8")).get("bundle") == str(Path(root).resolve()):
                path.unlink()
        except (OSError, ValueError):
            continue


def candidates(manifest) -> list[tuple[str, str | None]]:
    """(backend, variant) pairs worth measuring: torch in the precision its gate allows (and in fp32 too
    when that is bf16: casting to bf16 costs more than it saves on small inputs), then each accepted
    export variant."""
    from ..inference_precision import inference_precision

    found: list[tuple[str, str | None]] = [("torch", None)]
    if inference_precision(manifest).bf16:
        found.append(("torch", "fp32"))
    section = manifest.onnx or {}
    for name, row in (section.get("variants") or {}).items():
        if row.get("accepted", True):
            found.append(("onnx", name))
    return found


def measure(predict: Callable[[list[dict[str, Any]]], Any], pairs: bool = False,
            examples: list[dict[str, Any]] | None = None) -> dict[str, float]:
    """Seconds for the workload: ``SINGLES`` one-input calls (median, ms) and ``BATCHES`` batches of 8 and
    of 32 of ``examples`` (default: varied texts; ``pairs``: each with a second text, for sentence-pair models)."""
    texts = examples or [{"text": t, **({"text_pair": WORKLOAD_TEXTS[-1 - i]} if pairs else {})}
                         for i, t in enumerate(WORKLOAD_TEXTS)]
    batch = [texts[i % len(texts)] for i in range(BATCH_SIZE)]
    predict(batch[:2])  # warm-up
    singles = []
    for i in range(SINGLES):
        started = time.perf_counter()
        predict([texts[i % len(texts)]])
        singles.append(time.perf_counter() - started)
    started = time.perf_counter()
    for _ in range(BATCHES):
        predict(batch)
    batched = (time.perf_counter() - started) / BATCHES
    started = time.perf_counter()
    for _ in range(BATCHES):
        predict(batch[:MIDDLE_SIZE])
    middle = (time.perf_counter() - started) / BATCHES
    singles.sort()
    return {"batch1_ms": round(1000 * singles[len(singles) // 2], 3), "batch8_ms": round(1000 * middle, 3),
            "batch32_ms": round(1000 * batched, 3), "total_s": round(sum(singles) + BATCHES * (batched + middle), 4)}


def _label(backend: str, variant: str | None) -> str:
    return f"torch-{variant}" if backend == "torch" and variant else (variant or "torch")


def routed(options: list[tuple[str, str | None]], timings: dict[str, dict[str, float]]) -> dict[str, Any] | None:
    """Where one option answers single texts fastest and another batches of 32: ``{"backend", "variant"}``
    of the single-text winner and ``small_rows``, the largest batch it takes (8 when it also wins at 8,
    else 1); None where one option wins both."""
    def fastest(key: str):
        return min(options, key=lambda o: timings[_label(*o)].get(key, float("inf")))

    small, large = fastest("batch1_ms"), fastest("batch32_ms")
    if small == large:
        return None
    middle = {o: timings[_label(*o)].get("batch8_ms", float("inf")) for o in (small, large)}
    return {"backend": small[0], "variant": small[1], "small_rows": MIDDLE_SIZE if middle[small] <= middle[large] else 1}


def choose_backend(root: str | Path, manifest, load: Callable[[str, str | None], Any]) -> dict[str, Any]:
    """The fastest accepted (backend, variant) for the bundle at ``root`` on this CPU, measured once and
    cached: ``{"backend", "variant", "timings": {name: figures}, "small": None | {"backend", "variant",
    "small_rows"}}``. With ``small``, (backend, variant) is the fastest at batches of 32 and ``small`` the
    fastest at single texts (see ``routed``). ``load(backend, variant)`` returns a ``Predictor``."""
    root = Path(root)
    options = candidates(manifest)
    cache = _cache_file(root)
    if cache is not None and cache.is_file():
        try:
            cached = json.loads(cache.read_text(encoding="utf-8"))
            small = cached.get("small")
            if (cached.get("backend"), cached.get("variant")) in options and (  # only ever accepted variants
                    small is None or (isinstance(small, dict) and (small.get("backend"), small.get("variant")) in options
                                      and small.get("small_rows") in (1, MIDDLE_SIZE))):
                return cached
        except (OSError, ValueError):
            pass
    if len(options) == 1:
        return {"backend": "torch", "variant": None, "timings": {}, "small": None, "bundle": str(root.resolve())}
    timings = {}
    for backend, variant in options:
        predictor = load(backend, variant)
        timings[_label(backend, variant)] = measure(predictor.predict, pairs=bool(manifest.data.text_pair_column),
                                                    examples=predictor.task.workload_examples())
        del predictor
    small = routed(options, timings)
    best = min(options, key=lambda o: timings[_label(*o)]["batch32_ms" if small else "total_s"])
    choice = {"backend": best[0], "variant": best[1], "timings": timings, "small": small,
              "bundle": str(root.resolve())}
    if cache is not None:
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            cache.write_text(json.dumps(choice, indent=1), encoding="utf-8")
        except OSError as exc:
            log.info("backend choice not cached (%s)", exc)
    return choice
