"""The emulated board's serial console (mpboot emulate --serial) under the real mpremote: a command's
round trip, a file written the way mpboot provision writes them, and mpboot install --port of a
1.5 MB image, in bytes per second over the pty.

Reference in the same process: the same install through the emulated board's host-backed link
(manualinstall, no serial port), so the cost of the serial path shows as a ratio.
"""

import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "device"))

import bootstage  # noqa: E402
from mpboot import manualinstall, serialinstall  # noqa: E402
from mpboot.emulator.flash import NorFlash  # noqa: E402
from mpboot.mpremotelink import DeviceLink  # noqa: E402
from serialboard import SerialBoard  # noqa: E402

IMAGE_SIZE = 1_500_000  # about MicroPython's ESP32 firmware
FILE_SIZE = 64 * 1024
COMMANDS = 20


def main():
    image = bootstage.signed("2.0.0", 2, size=IMAGE_SIZE)
    base = bootstage.provisioned(bootstage.signed("1.0.0", 1)).mem
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        flash = tmp / "flash.bin"
        flash.write_bytes(base)
        with SerialBoard(flash, tmp) as board:
            started = time.perf_counter()
            for _ in range(COMMANDS):
                subprocess.run([sys.executable, "-m", "mpremote", "connect", board.port, "exec", "pass"],
                               check=True, capture_output=True, timeout=60)
            per_command = (time.perf_counter() - started) / COMMANDS
            with DeviceLink(board.port) as dev:
                data = bytes(range(256)) * (FILE_SIZE // 256)
                started = time.perf_counter()
                dev.write_file("/bench.bin", data)
                write_rate = FILE_SIZE / (time.perf_counter() - started)
                exec_rate = COMMANDS / sum(_timed(dev.exec, "pass") for _ in range(COMMANDS))
            started = time.perf_counter()
            result = serialinstall.install(board.port, image)
            serial_s = time.perf_counter() - started
            assert result.accepted, result.reason
            # the transfer alone: from the first byte asked to the installer's last word
            transfer = _transfer_seconds(board.port, image)
        reference = NorFlash(data=base)
        started = time.perf_counter()
        with bootstage.board(reference, None, run_timeout=30) as emulated:
            assert manualinstall.install(emulated, image).accepted
        direct_s = time.perf_counter() - started
    print("mpremote exec over the pty, new connection each (soft reset included): %.0f ms" % (per_command * 1000))
    print("raw REPL exec on an open link: %.1f ms (%.0f per second)" % (1000 / exec_rate, exec_rate))
    print("file write as provision does it (raw REPL, no raw paste): %.1f KB/s" % (write_rate / 1000))
    print("install --port of %d bytes: %.1f s in all (trial boot and verdict included)" % (len(image), serial_s))
    print("  image transfer into the slot: %.2f s, %.0f KB/s" % (transfer, len(image) / transfer / 1000))
    print("  reference, the same install without the serial port (manualinstall): %.1f s; ratio %.2f"
          % (direct_s, serial_s / direct_s))


def _timed(fn, *args):
    started = time.perf_counter()
    fn(*args)
    return time.perf_counter() - started


def _transfer_seconds(port, image):
    """Time serialinstall's transfer step alone: the image into the inactive slot, verified
    there and recorded as pending (no reset follows)."""
    with DeviceLink(port) as dev:
        started = time.perf_counter()
        outcome = serialinstall.transfer(dev, image, 60)
        seconds = time.perf_counter() - started
    assert outcome in ("ok", "refused"), outcome
    return seconds
