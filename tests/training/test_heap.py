"""freed_memory_kept: freed blocks come back from the heap instead of fresh pages, and the defaults return."""

import resource

import pytest
import torch

from tuneforge.training import heap

pytestmark = pytest.mark.skipif(heap._glibc() is None, reason="needs glibc's malloc")

BLOCK = 64 * 2**20 // 4  # 64 MiB of float32: above glibc's largest mmap threshold (32 MiB)


def faults_of_a_second_allocation() -> int:
    """Page faults taken by allocating, touching and freeing a 64 MiB tensor, after one such was freed."""
    torch.ones(BLOCK)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    torch.ones(BLOCK)
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


def test_a_block_freed_while_kept_is_reused_without_page_faults():
    pages = BLOCK * 4 // resource.getpagesize()
    default = faults_of_a_second_allocation()
    with heap.freed_memory_kept():
        faults_of_a_second_allocation()  # the first block may come from fresh memory (memalign's split of the top)
        kept = faults_of_a_second_allocation()
    after = faults_of_a_second_allocation()
    assert default > pages // 2  # glibc maps a block this large afresh each time
    assert kept < pages // 20
    assert after > pages // 2  # the defaults are back: large blocks are mapped and unmapped again


def test_disabled_or_without_glibc_nothing_changes(monkeypatch):
    pages = BLOCK * 4 // resource.getpagesize()
    with heap.freed_memory_kept(enabled=False):
        assert faults_of_a_second_allocation() > pages // 2
    monkeypatch.setattr(heap, "_glibc", lambda: None)
    assert heap.set_malloc(heap.KEPT) is False
    with heap.freed_memory_kept():
        assert faults_of_a_second_allocation() > pages // 2


def test_runs_keep_freed_memory_for_large_models_only(monkeypatch):
    layer = torch.nn.Linear(10, 10)  # 110 parameters
    assert heap.pays_for(layer) is False  # under LARGE_MODEL
    monkeypatch.setattr(heap, "LARGE_MODEL", 110)
    assert heap.pays_for(layer) is True


def test_a_refused_setting_leaves_the_defaults(monkeypatch):
    applied = []
    monkeypatch.setattr(heap, "set_malloc", lambda options: applied.append(options) or options is heap.DEFAULTS)
    with heap.freed_memory_kept():
        pass
    assert applied == [heap.KEPT, heap.DEFAULTS]  # KEPT refused: the defaults put back, and nothing more
