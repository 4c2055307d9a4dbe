"""tracemalloc peak of one call on CPython: the memory tests (stagemem, tufmem, otamem) add it
to MicroPython's live-heap figures for work whose garbage is large but short-lived. It is exact
for CPython, whose objects are larger than MicroPython's, so it errs high."""

import tracemalloc


def traced(fn, *args):
    """(fn(*args), bytes allocated at the peak of the call above what was live before it)."""
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        result = fn(*args)
        return result, tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
