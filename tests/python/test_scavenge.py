"""heap.scavenge() (issue 4): free pages go back to the OS, heap_released
counts them and resident memory falls after a large structure dies."""
import os

import pytest

import tricolor
from conftest import COLLECTORS

STRUCTURE = 64 << 20  # bytes of payload in the structure that dies


def rss_bytes():
    """Resident memory of this process, from /proc/self/statm."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def build(heap, nbytes, size=4096):
    """A linked list of nbytes of payload (one Python handle: the head)."""
    head = node = heap.new(1, data=size)
    for _ in range(nbytes // size - 1):
        nxt = heap.new(1, data=size)
        node[0] = nxt
        node = nxt
    return head


@pytest.mark.parametrize("collector", COLLECTORS)
def test_scavenge_gives_memory_back(collector):
    with tricolor.Heap(collector=collector, gogc=None) as heap:
        head = build(heap, STRUCTURE)
        rss_alive = rss_bytes()
        released_before = heap.stats().heap_released
        del head
        heap.collect()
        heap.collect()
        released = heap.scavenge()
        assert released > 0.8 * STRUCTURE
        s = heap.stats()
        assert s.heap_released - released_before >= released
        assert rss_alive - rss_bytes() > 0.5 * STRUCTURE
        assert heap.scavenge() == 0  # nothing left to give back
        head = build(heap, 1 << 20)  # released pages are reused
        heap.verify()


def test_scavenge_with_a_background_scavenger():
    """With gogc on, the scavenger may have released pages after the cycles
    already: scavenge() gives back the rest; together they are the structure."""
    with tricolor.Heap(gogc=100) as heap:
        head = build(heap, STRUCTURE)
        released_before = heap.stats().heap_released
        del head
        heap.collect()
        heap.collect()
        assert heap.scavenge() >= 0
        assert heap.stats().heap_released - released_before > 0.8 * STRUCTURE


def test_scavenge_after_close():
    heap = tricolor.Heap()
    heap.close()
    with pytest.raises(tricolor.HeapClosedError):
        heap.scavenge()
