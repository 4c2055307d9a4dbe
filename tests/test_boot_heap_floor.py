"""The heap the boot stage needs on the unix-port board, measured, not guessed: the device
package as .mpy (as `mpboot provision` writes it), a normal boot that reads the state log,
loads the root and verifies the running image. The test finds the smallest heap the stage lets
the application start in, by bisection in 4 KiB steps, and checks it against the band in
docs/emulator.md ("What a board's boot and update need"). Below it the boot must fail closed:
the application never runs, and the flash is as it was but for the state log's boot record, so
the next boot in a larger heap is a normal one. The threshold is not sharp (where the
collector's holes fall), so a heap below the minimum a run found can pass in another; every
heap this test sees fail must fail so.

The minimum must also fit an ESP32 without PSRAM: unixport.board_heap() (its Python heap in this
port's 64-bit objects) plus what the emulated board itself holds before boot.py runs (the
emulator's esp32, machine and _emu modules are Python here, C on a board), measured here as the
live heap at the start of boot.py over a fresh interpreter's."""

import pytest

from emuboard import unix_runtime
from fixedheap import smallest_heap
from mpboot import boards, mpycross
from mpboot.emulator.flash import NorFlash
from mpboot.mpy.unixport import UnixMicroPython, board_heap
from otaworld import BOARD, World

LOW, HIGH, STEP = 112 * 1024, 256 * 1024, 4 * 1024
DOCUMENTED = (136 * 1024, 164 * 1024)  # measured 144 KiB (146-149 before Ed25519's B table became bytes)
APP = "print('app-ran')\n"
LIVE = "import gc\ngc.collect()\nprint('live', gc.mem_alloc())\n"


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    w = World(tmp_path_factory.mktemp("bootheap"), unix_runtime(), files={"/main.py": APP}, mpy=mpycross.DEFAULT)
    assert "app-ran" in w.boot().output
    yield w, bytes(w.flash.mem)
    w.close()


def board_setup(tmp_path):
    """Bytes the emulated board holds when its boot.py starts, above a fresh interpreter."""
    w = World(tmp_path, unix_runtime(), files={"/boot.py": LIVE, "/main.py": APP})
    try:
        at_boot = int(w.boot().text.split("live ")[1].split()[0])
    finally:
        w.close()
    with UnixMicroPython() as mp:
        mp.boot()
        return at_boot - mp.live_heap()


def boot(w, base, heap):
    """One boot of a copy of `base` in `heap`: (the application ran, the record, the flash)."""
    flash = NorFlash(data=base)
    with UnixMicroPython(heap=heap) as runtime:
        w.runtime = runtime
        w.use_flash(flash)
        record = w.boot()
    return "app-ran" in record.output, record, flash


def check_failed_closed(w, base, heap, record, flash):
    where = "heap %d: %s\n%s" % (heap, record.outcome, record.text)
    assert record.outcome == "exception" and "MemoryError" in record.text, where
    for part in BOARD.partitions:
        if part.name != boards.STATE_PARTITION:  # the state log may have counted the boot
            begin, end = part.offset, part.offset + part.size
            assert flash.mem[begin:end] == base[begin:end], "%s changed; %s" % (part.name, where)
    ran, again, _ = boot(w, bytes(flash.mem), HIGH)
    assert ran and "verified" in again.text, where + "\nthen:\n" + again.text


def test_the_boot_stage_fits_an_esp32_heap_its_documented_minimum_and_fails_closed_below(prepared, tmp_path):
    w, base = prepared
    ran, record, _ = boot(w, base, HIGH)
    assert ran, record.text
    ran, record, flash = boot(w, base, LOW)
    assert not ran
    check_failed_closed(w, base, LOW, record, flash)

    def completes(heap):
        ran, record, flash = boot(w, base, heap)
        if not ran:
            check_failed_closed(w, base, heap, record, flash)
        return ran

    hi = smallest_heap(completes, LOW, HIGH, STEP)
    setup = board_setup(tmp_path)
    print("the boot stage needs %d KiB of heap here; the board holds %d bytes before boot.py" % (hi // 1024, setup))
    assert DOCUMENTED[0] <= hi <= DOCUMENTED[1], "%d KiB, outside the documented band" % (hi // 1024)
    assert hi <= board_heap() + setup, "%d KiB: more than an ESP32's heap (%d bytes here) and the board's own %d" % (
        hi // 1024, board_heap(), setup)
