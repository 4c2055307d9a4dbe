"""mpboot device package: the code that runs on the board (MicroPython) and is imported by the host tools (CPython)."""

import gc

# Collect after each 8 KiB allocated while modules load. Loading .mpy code leaves garbage
# between the objects it keeps; when the collector runs only on a full heap, the code then kept
# is spread over it and the holes left are too small for later blocks (the collector never
# moves objects). Measured on the unix-port board: the boot stage's smallest heap fell from 195
# to 149 KiB, a whole update's from 295 to 229 KiB (docs/emulator.md). Only while loading:
# collecting this often during the work itself made an update 3 times slower.
_LOADING_THRESHOLD = 8192
_threshold = getattr(gc, "threshold", None)  # MicroPython's; CPython has no such setting


class loading:
    """`with loading(): from mpboot_fw import ...`: the imports, with the collector run early;
    its setting before is restored after, the application's own included."""

    def __enter__(self):
        if _threshold is not None:
            self.was = _threshold()
            _threshold(_LOADING_THRESHOLD)

    def __exit__(self, *exc):
        if _threshold is not None:
            _threshold(self.was)
