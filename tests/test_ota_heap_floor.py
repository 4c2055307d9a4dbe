"""The heap a whole over-the-air update needs on the unix-port board, measured, not guessed.

The board runs with a fixed heap (`-X heapsize=`, a real MemoryError when it is full). The whole
update: the check that downloads and installs 2.0.0 (TLS to `mpboot serve` on the port's
mbedTLS), the trial boot that confirms it, and that boot's check ("current"). OTA_MIN_HEAP is
the smallest heap it completes in, found by bisection in 4 KiB steps (docs/emulator.md); this
test runs it at that heap, and 8 KiB below, where it must fail cleanly: the MemoryError logged
as the check's error in the state log, the board on a verified image with nothing pending, and
the next boot normal.

On this port mbedTLS allocates from MicroPython's heap (on an ESP32 it uses ESP-IDF's heap), and
objects are 64-bit, so the figure is far above an ESP32's Python heap (unixport.board_heap()).
"""

import platform
import sys

import pytest

import otasweep
from conftest import UNIX_PORT_PLATFORMS
from emuboard import board_runtime
from mpboot.emulator.flash import NorFlash
from mpboot.emulator.partition import FlashPartition
from mpboot.mpy.unixport import UnixMicroPython
from mpboot_fw import image, trust
from otaworld import BOARD

OTA_MIN_HEAP = 420 * 1024


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    if (sys.platform, platform.machine()) not in UNIX_PORT_PLATFORMS:
        pytest.skip("no wheel of MicroPython's unix port for %s %s" % (sys.platform, platform.machine()))
    w, base = otasweep.prepare(tmp_path_factory.mktemp("heap"), board_runtime("unix"))
    yield w, base
    w.close()


def update(w, base, heap):
    """Boot a copy of `base` with `heap` until the app ran with nothing pending (at most 3 boots)."""
    with UnixMicroPython(heap=heap) as runtime:
        w.runtime = runtime
        w.use_flash(NorFlash(data=base))
        clock = w.state().time_floor + 60
        records = []
        while len(records) < 3:
            records.append(w.boot(clock=clock, options={"backoff_ms": 10}))
            if records[-1].outcome != "reset":
                break
    return records


def test_the_whole_update_fits_in_the_measured_minimum(prepared):
    w, base = prepared
    records = update(w, base, OTA_MIN_HEAP)
    assert [r.outcome for r in records] == ["reset", "ok"], [r.text for r in records]
    assert w.running(records[-1]) == ("ota_1", "2.0.0") and "ota: current" in records[-1].text


def test_8_kib_less_fails_cleanly_on_a_good_image(prepared):
    w, base = prepared
    records = update(w, base, OTA_MIN_HEAP - 8 * 1024)
    first_boot = w.state().boot_count - len(records) + 1
    last = records[-1]
    assert last.outcome == "ok" and "status:" in last.text, last.text
    st = w.state()
    events = [e for e in st.events() if e[0] >= first_boot]
    assert ("ota-error", "MemoryError") in [e[1:3] for e in events], events
    assert st.pending is None
    part = BOARD.partition(last.slot)
    m = image.verify_slot(FlashPartition(w.flash, part.offset, part.size), trust.load_root(st.root()), 0, BOARD.name,
                          st.floor)
    assert (m.version, last.app["version"]) in (("1.0.0", "1.0.0"), ("2.0.0", "2.0.0"))
    # Nothing left half done: the next boot runs the same image.
    with UnixMicroPython(heap=OTA_MIN_HEAP - 8 * 1024) as runtime:
        w.runtime = runtime
        w.use_flash(w.flash)
        again = w.boot(clock=st.time_floor + 60, options={"backoff_ms": 10})
    assert again.outcome == "ok" and w.running(again) == w.running(last), again.text
