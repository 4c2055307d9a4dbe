"""Run steps on the unix port (a fixed heap) with only a given number of bytes of heap free: what
a memory budget "N bytes above idle" means on a board, where the heap is what it is.

The interpreter boots with an ample heap, the setup runs (imports, the test doubles: their
import-time peaks are not the budget's business). After a collection `free` bytes are reserved
in one piece, ballast takes every other free block (the holes the setup left included, down to
single 32-byte blocks), and the reserve is let go: the steps have exactly those bytes, with no
hole elsewhere to borrow from. Then each step runs in turn; the first to fail (a MemoryError)
is reported. The steps' source is compiled with the setup, before the budget is set: a board
runs compiled code, and compiling a step's glue in the budget would charge it a parse tree of a
few KiB that no board needs (only `exec(_steps[i])` is compiled there).
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


def run_with_free(mp, put_files, setup, steps, free, heap=1024 * 1024):
    """Boot, `put_files(mp)`, run `setup`, leave `free` bytes of heap free in one piece, run
    `steps` [(name, code)]. {"free": the bytes free as the steps began, "failed": None, or
    (step, last line of its error)}."""
    mp.boot(heap=heap)
    put_files(mp)
    mp.run(setup).check()
    mp.run("_steps = [%s]" % ", ".join("compile(%r, %r, 'exec')" % (code, step) for step, code in steps)).check()
    left = int(mp.run(BALLAST % free).check().split()[-1])
    result = {"free": left, "failed": None}
    for i, (step, _) in enumerate(steps):
        run = mp.run("exec(_steps[%d])" % i)
        if not run.ok:
            result["failed"] = (step, run.exc.strip().splitlines()[-1])
            break
    return result
