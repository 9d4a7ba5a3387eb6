"""Which precision to compute in on this CPU: bf16 autocast where the hardware has bf16, fp32 elsewhere.

On a CPU with AMX or AVX512-BF16, ``torch.autocast("cpu", dtype=torch.bfloat16)`` runs matrix
multiplications in bf16 through oneDNN, several times faster than fp32; on a CPU without them bf16 is
emulated and much slower than fp32 (PyTorch issues #86270, #118499). So ``auto`` decides by what the CPU
reports and what a short measurement shows, never by default. Weights and optimizer state stay fp32
(autocast only, never ``model.to(torch.bfloat16)``).
"""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal

from .errors import ConfigError

PRECISIONS = ("auto", "fp32", "bf16")
BF16_FLAGS = ("amx_bf16", "avx512_bf16")  # either makes bf16 matrix multiplication native


def _cpuinfo_field(*keys: str) -> str | None:
    """The value of the first ``/proc/cpuinfo`` line starting with one of ``keys`` (None where absent)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    return next((line.split(":", 1)[1].strip() for line in text.splitlines()
                 if line.startswith(keys) and ":" in line), None)


def cpu_flags() -> set[str]:
    """The instruction-set flags of the first CPU in ``/proc/cpuinfo`` (empty where there is none)."""
    return set((_cpuinfo_field("flags", "Features") or "").split())


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``, else ``platform.processor()``)."""
    import platform

    return _cpuinfo_field("model name") or platform.processor()


@dataclass(frozen=True)
class Precision:
    """A resolved precision (``fp32`` or ``bf16``) and why it was chosen."""

    name: Literal["fp32", "bf16"]
    reason: str

    @property
    def bf16(self) -> bool:
        """True when computation runs under bf16 autocast."""
        return self.name == "bf16"


MIN_SPEEDUP = 1.1  # bf16 matmul must beat fp32 by this much for ``auto`` to choose it


def resolve_precision(requested: str = "auto", flags: set[str] | None = None,
                      speedup: Callable[[], float] | None = None) -> Precision:
    """``auto`` -> bf16 when the CPU reports AMX-BF16 or AVX512-BF16 *and* bf16 matrix multiplication
    measures faster than fp32 on it (``bf16_speedup``, once per CPU); else fp32. ``fp32``/``bf16`` as asked.

    The measurement is there because the flag alone misleads: on an Intel Xeon reporting AVX512-BF16
    without AMX, bf16 matmul ran at 0.56x fp32 under PyTorch 2.13 (oneDNN picked no bf16 kernel).

    Example:
        >>> resolve_precision("auto", {"avx2", "avx512_bf16"}, speedup=lambda: 3.0).name
        'bf16'
        >>> resolve_precision("auto", {"avx2"}).name
        'fp32'
    """
    if requested not in PRECISIONS:
        raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, not {requested!r}")
    flags = cpu_flags() if flags is None else flags
    native = [f for f in BF16_FLAGS if f in flags]
    if requested == "fp32":
        return Precision("fp32", "fp32 as configured")
    if requested == "bf16":
        if native:
            return Precision("bf16", f"bf16 as configured (the CPU reports {', '.join(native)})")
        return Precision("bf16", "bf16 as configured, though the CPU reports neither amx_bf16 nor avx512_bf16: "
                                 "expect it slower than fp32")
    if not native:
        return Precision("fp32", "auto: the CPU reports neither amx_bf16 nor avx512_bf16 (bf16 would be emulated, "
                                 "slower than fp32)")
    ratio = (speedup or bf16_speedup)()
    if ratio >= MIN_SPEEDUP:
        return Precision("bf16", f"auto: the CPU reports {', '.join(native)} and bf16 matmul runs {ratio:.1f}x "
                                 "fp32 on it, so bf16 autocast")
    return Precision("fp32", f"auto: the CPU reports {', '.join(native)}, but bf16 matmul runs only {ratio:.2f}x "
                             "fp32 on it, so fp32")


@functools.lru_cache(maxsize=1)
def bf16_speedup() -> float:
    """fp32 time / bf16 time of a 1024x1024 matrix product on this CPU (best of 5, after a warm-up),
    measured once per CPU and cached in ``$TUNEFORGE_HOME`` (else the platform cache folder)."""
    import hashlib
    import json
    import os
    import time

    import torch

    key = hashlib.sha256((" ".join(sorted(cpu_flags())) + f"|{os.cpu_count()}|{torch.__version__}|"
                          f"{torch.get_num_threads()}").encode()).hexdigest()[:16]
    from .cache_dirs import cache_dir

    cache = cache_dir("precision") / f"{key}.json"
    try:
        return float(json.loads(cache.read_text(encoding="utf-8"))["bf16_speedup"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    best = {}
    for name, (x, y) in (("fp32", (a, b)), ("bf16", (a.bfloat16(), b.bfloat16()))):
        x @ y
        times = []
        for _ in range(5):
            started = time.perf_counter()
            x @ y
            times.append(time.perf_counter() - started)
        best[name] = min(times)
    ratio = best["fp32"] / best["bf16"]
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps({"bf16_speedup": ratio, "fp32_s": best["fp32"], "bf16_s": best["bf16"]}),
                         encoding="utf-8")
    except OSError:
        pass
    return ratio


def autocast(precision: Precision | str):
    """A context manager computing in ``precision``: bf16 autocast on CPU, or nothing for fp32."""
    name = precision.name if isinstance(precision, Precision) else precision
    if name != "bf16":
        return contextlib.nullcontext()
    import torch

    return torch.autocast("cpu", dtype=torch.bfloat16)


def plain_model(model):
    """``model`` as trained, without what training wrapped around it: the bf16 autocast accelerate puts
    on ``forward`` and a ``torch.compile`` wrapper (inference chooses its own precision; see
    ``tuneforge.inference_precision``)."""
    from accelerate.utils import extract_model_from_parallel

    return extract_model_from_parallel(model, keep_fp32_wrapper=False, keep_torch_compile=False)
