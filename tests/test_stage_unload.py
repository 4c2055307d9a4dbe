"""The fixed loader lets the boot stage's modules go once the stage is done (firmware/boot.py):
the application starts without them on the heap, and the updater imports what it needs again.
On both MicroPython builds; the heap it gives back is read on the unix port, where a collection
inside a run is exact (docs/emulator.md, "Runtimes")."""

import pytest

from emuboard import board_runtime
from otaworld import MAIN, World, output_line

# The application: what is loaded when it starts, then the same modules the stage had loaded
# imported again, then the update check (the updater imports them itself).
APP = r"""
import gc, sys
gc.collect()
print("loaded:", sorted(m for m in sys.modules if m.startswith("mpboot_fw")))
print("live-at-start:", gc.mem_alloc())
from mpboot_fw import stage
gc.collect()
print("live-with-stage:", gc.mem_alloc())
""" + MAIN


@pytest.mark.parametrize("runtime", ["unix", "wasm"])
def test_the_application_starts_without_the_stage_modules(tmp_path, runtime):
    w = World(tmp_path, board_runtime(runtime), files={"/main.py": APP})
    try:
        record = w.boot()
        assert "mpboot: boot 1: ota_0 1.0.0 sv1 verified" in record.text, record.text
        assert output_line(record, "loaded:") == "[]"
        # the updater still finds everything it needs: a full check, up to date
        assert output_line(record, "ota:") == "current", record.text
        if runtime == "unix":
            freed = int(output_line(record, "live-with-stage:")) - int(output_line(record, "live-at-start:"))
            # measured: 73.5 KB (the stage, install, context, image, trust, statelog ... modules)
            assert freed > 60 * 1024, record.text
    finally:
        w.close()


def test_after_a_failed_stage_the_repl_keeps_its_modules(tmp_path):
    """The loader lets the modules go only when the stage let the application start: after a
    Recovery the REPL (a manual install) keeps them."""
    w = World(tmp_path, board_runtime(), files={"/main.py": APP})
    try:
        w.flash.erase(w.state_partition().offset, 4096)  # the state log's first sector: unreadable
        record = w.boot(repl="import sys\nprint('repl:', 'mpboot_fw.stage' in sys.modules)")
        assert "loaded:" not in record.text, record.text  # main.py did not run
        assert output_line(record, "repl:") == "True", record.text
    finally:
        w.close()
