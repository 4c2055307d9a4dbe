"""mpboot device package: the code that runs on the board (MicroPython) and is imported by the host tools (CPython)."""

import gc

# Collect after each sixteenth of the heap allocated while modules load. Loading .mpy code leaves
# garbage between the objects it keeps; when the collector runs only on a full heap, the code then
# kept is spread over it and the holes left are too small for later blocks (the collector never
# moves objects). Measured on the unix-port board: the boot stage's smallest heap fell from 195
# to 149 KiB, a whole update's from 295 to 231 KiB (docs/emulator.md); 4 to 32 KiB between
# collections all did it there. A share of the heap, not a fixed amount: each collection sweeps
# the whole heap, so in a large one a fixed 8 KiB cost a boot more than the imports. Only while
# loading: collecting this often during the work itself made an update 3 times slower.
_threshold = getattr(gc, "threshold", None)  # MicroPython's; CPython has no such setting


class loading:
    """`with loading(): from mpboot_fw import ...`: the imports, with the collector run early;
    its setting before is restored after, the application's own included."""

    def __enter__(self):
        if _threshold is not None:
            self.was = _threshold()
            _threshold(max(4096, (gc.mem_alloc() + gc.mem_free()) >> 4))

    def __exit__(self, *exc):
        if _threshold is not None:
            _threshold(self.was)
