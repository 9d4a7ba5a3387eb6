"""Keep freed memory in the process while training, so each step's tensors stop paying for page faults.

glibc's malloc hands large blocks (above its mmap threshold, 128 KiB growing to at most 32 MiB) straight to
the kernel with ``mmap`` and gives them back with ``munmap`` when freed, and it trims the top of its heap
when more than a threshold lies free there. A training step allocates and frees the same large tensors
every time (activations, gradients, under bf16 autocast the bf16 copies of the weights), so every step
maps fresh pages, and the kernel zeroes each 4 KiB page on first touch: on the default encoder at batch 32
that was about 9,500 page faults per bf16 step, on SmolLM2 about 66,000 (100,000 in fp32).

``freed_memory_kept()`` tells glibc (``mallopt``) to serve every block from its heap and to keep what is
freed there for the next step; on leaving it restores the defaults and returns the free memory to the
kernel (``malloc_trim``). Elsewhere (not glibc) it does nothing. PyTorch's performance guide reaches the
same end with jemalloc or tcmalloc preloaded; this needs no extra library.

Runs use it for models of at least ``LARGE_MODEL`` parameters (``pays_for``): in two runs of bench/heap.py
SmolLM2-135M trained 1.04x and 1.11x faster with it in fp32, 1.10x and 1.03x in bf16, while the 22.7M-parameter
default encoder showed no gain in fp32 (1.02x and 0.97x; 1.06x and 1.00x in bf16): its blocks per step
are small enough for glibc's own thresholds.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools

M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD, M_MMAP_MAX = -1, -2, -3, -4  # mallopt parameters (malloc.h)
KEPT = {M_TRIM_THRESHOLD: 2**31 - 1, M_TOP_PAD: 64 * 2**20, M_MMAP_MAX: 0}
# Afterwards: glibc's defaults as its dynamic thresholds leave them once a process has freed large blocks
# (mmap threshold at its 32 MiB ceiling, trimming at twice that); any mallopt call ends the dynamic
# adjustment, so these are set explicitly.
DEFAULTS = {M_MMAP_THRESHOLD: 32 * 2**20, M_TRIM_THRESHOLD: 64 * 2**20, M_TOP_PAD: 128 * 1024, M_MMAP_MAX: 65536}


@functools.cache
def _glibc():
    """The C library when it is glibc (it has ``mallopt`` and ``malloc_trim``), else None; looked up once."""
    try:
        libc = ctypes.CDLL(None)  # the symbols the process has loaded, the C library's among them
        libc.gnu_get_libc_version.restype = ctypes.c_char_p
        libc.gnu_get_libc_version()
        libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
        return libc
    except (OSError, AttributeError):
        return None


LARGE_MODEL = 100_000_000


def pays_for(model) -> bool:
    """Whether a run training ``model`` keeps freed memory: models of at least ``LARGE_MODEL`` parameters."""
    return sum(p.numel() for p in model.parameters()) >= LARGE_MODEL


def set_malloc(options: dict[int, int]) -> bool:
    """Apply ``mallopt`` ``options``; False where the C library is not glibc or refuses one."""
    libc = _glibc()
    if libc is None:
        return False
    return all(libc.mallopt(key, value) == 1 for key, value in options.items())


@contextlib.contextmanager
def freed_memory_kept(enabled: bool = True):
    """Within the block, glibc keeps freed memory for reuse instead of unmapping it; afterwards the
    defaults come back and the free memory goes back to the kernel."""
    if not enabled:
        yield
        return
    if not set_malloc(KEPT):
        set_malloc(DEFAULTS)  # undo the part glibc may have taken
        yield
        return
    try:
        yield
    finally:
        set_malloc(DEFAULTS)
        _glibc().malloc_trim(0)  # set_malloc(KEPT) succeeded, so this is glibc
