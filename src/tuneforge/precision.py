"""Which precision to compute in on this CPU: bf16 autocast where the hardware has bf16, fp32 elsewhere.

On a CPU with AMX or AVX512-BF16, ``torch.autocast("cpu", dtype=torch.bfloat16)`` runs matrix
multiplications in bf16 through oneDNN, several times faster than fp32; on a CPU without them bf16 is
emulated and much slower than fp32 (PyTorch issues #86270, #118499). So ``auto`` decides by what the CPU
reports, never by default. Weights and optimizer state stay fp32 (autocast only, never
``model.to(torch.bfloat16)``).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .errors import ConfigError

PRECISIONS = ("auto", "fp32", "bf16")
BF16_FLAGS = ("amx_bf16", "avx512_bf16")  # either makes bf16 matrix multiplication native


def cpu_flags() -> set[str]:
    """The instruction-set flags of the first CPU in ``/proc/cpuinfo`` (empty where there is none)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")) and ":" in line:
            return set(line.split(":", 1)[1].split())
    return set()


@dataclass(frozen=True)
class Precision:
    """A resolved precision (``fp32`` or ``bf16``) and why it was chosen."""

    name: Literal["fp32", "bf16"]
    reason: str

    @property
    def bf16(self) -> bool:
        """True when computation runs under bf16 autocast."""
        return self.name == "bf16"


def resolve_precision(requested: str = "auto", flags: set[str] | None = None) -> Precision:
    """``auto`` -> bf16 when the CPU reports AMX-BF16 or AVX512-BF16, else fp32; ``fp32``/``bf16`` as asked.

    Example:
        >>> resolve_precision("auto", {"avx2", "avx512_bf16"}).name
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
    if native:
        return Precision("bf16", f"auto: the CPU reports {', '.join(native)}, so bf16 autocast")
    return Precision("fp32", "auto: the CPU reports neither amx_bf16 nor avx512_bf16 (bf16 would be emulated, "
                             "slower than fp32)")


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
