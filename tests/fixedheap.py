"""Run steps on the unix port (a fixed heap) with only a given number of bytes of heap free: what
a memory budget "N bytes above idle" means on a board, where the heap is what it is.

The interpreter boots with an ample heap, the setup runs (imports, the test doubles: their
import-time peaks are not the budget's business). After a collection `free` bytes are reserved
in one piece, ballast takes every other free block (the holes the setup left included, down to
single 32-byte blocks), and the reserve is let go: the steps have exactly those bytes, with no
hole elsewhere to borrow from. Then each step runs in turn; the first to fail (a MemoryError)
is reported. The steps' source is compiled with the setup, before the budget is set, and one
run calls them all through a driver compiled there too: a board runs compiled code, and a
compile in the budget charges it the parser's working set, with a 1 KiB block (its rule stack,
on 64 bits) that a full, fragmented heap may not have in one piece; a run per step compiled
`exec(_steps[i])` in the budget each time, and the refresh at its caps failed on that alone at
one free size (tests/test_tuf_memory.py). The only compile left in the budget is `_go()`'s,
before the first step.
"""

BALLAST = """
import gc
gc.collect()
_budget = bytearray(%d)  # first fit: the lowest hole that holds it
_fill = None
_size = 32768
while _size >= 32:  # every other free block, large pieces first; a chain, which never reallocates
    try:
        _fill = (bytearray(_size), _fill)
    except MemoryError:
        _size //= 2
try:
    while True:
        _fill = (_fill, None)  # one block each: the smallest holes
except MemoryError:
    pass
_budget = None
del _size
gc.collect()
print(gc.mem_free())
"""


# Runs the steps in one run, reporting the first that raises; a handler that cannot print (the
# heap still full) leaves the traceback, which names the step (its code's file name) if it got in.
DRIVER = """
def _go():
    for _i in range(len(_steps)):
        try:
            exec(_steps[_i], globals())
        except Exception as e:
            print('@@failed', _i, '%s: %s' % (type(e).__name__, e))
            return
"""


def run_with_free(mp, put_files, setup, steps, free, heap=1024 * 1024):
    """Boot, `put_files(mp)`, run `setup`, leave `free` bytes of heap free in one piece, run
    `steps` [(name, code)]. {"free": the bytes free as the steps began, "failed": None, or
    (step, last line of its error)}."""
    mp.boot(heap=heap)
    put_files(mp)
    mp.run(setup).check()
    mp.run("_steps = [%s]" % ", ".join("compile(%r, %r, 'exec')" % (code, step) for step, code in steps)).check()
    mp.run(DRIVER).check()
    left = int(mp.run(BALLAST % free).check().split()[-1])
    result = {"free": left, "failed": None}
    run = mp.run("_go()")
    for line in run.output:
        if line.startswith("@@failed "):
            _, i, error = line.split(" ", 2)
            result["failed"] = (steps[int(i)][0], error)
    if not run.ok and result["failed"] is None:
        names = [step for step, _ in steps if 'File "%s"' % step in run.exc]
        result["failed"] = (names[-1] if names else "?", run.exc.strip().splitlines()[-1])
    return result


def smallest_heap(completes, low, high, step):
    """The smallest heap, in `step`s between `low` (where the work does not complete: the
    caller checked) and `high` (where it does), that `completes(heap)` says it completes in,
    by bisection: one fresh process per probe, so the collector's holes differ between probes
    and the answer is one run's, not a sharp threshold."""
    while high - low > step:
        mid = (low + high) // 2 // step * step
        if completes(mid):
            high = mid
        else:
            low = mid
    return high
