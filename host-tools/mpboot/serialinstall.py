"""Manual install over a serial port: `mpboot install --port`, the last hop from a laptop.

1. Connect with mpremote (mpremotelink.py): a soft reset first, so boot.py runs the boot stage,
   main.py does not, and the heap is clean for the installer. The device's boot counter marks
   where this install's events start in its log.
2. One raw-REPL exec runs the device's installer, `mpboot_fw.install.run(stream, length,
   reset=False)`, on a stream whose readinto() asks the host for each piece ("\\x18" and a
   16-bit count) and reads exactly that from sys.stdin. The host never sends more than was asked
   for, so a UART's small receive buffer does not overrun while flash sectors are erased; the
   image crosses as raw bytes (Ctrl-C is disabled meanwhile: kbd_intr(-1)). The installer
   writes the slot in 4 KiB blocks, verifies the image in flash and records the pending install.
   A bundle (.mpbundle) goes to `mpboot_fw.bundlestore.install` instead, on the same stream
   (which ends at the bundle's length): its inactive copy written and verified in place, the
   pointer set for its trial; the verdict is then the bundle's own events (manualinstall.judge).
3. Accepted: machine.reset(). The host only listens while the boot stage runs the trial boot (a
   Ctrl-C there would fail the trial), until the stage's last line says it is done and the
   console has been quiet for SETTLE seconds; then it reads the device's state log over the
   REPL, and judges it as the emulated install does (manualinstall.judge). A board with
   native USB re-enumerates when it resets: its port goes away and comes back, and the host
   reopens it (within `timeout`) and listens on. Lines printed while the port was away are
   lost, so after a reopen a console quiet for `timeout` seconds means the trial is over (the
   log decides), where without one it means a board that hangs.
"""

import contextlib
import re
import time

from mpboot import bundle as hostbundle, manualinstall, progress
from mpboot.errors import MpbootError
from mpboot.mpremotelink import DeviceError, DeviceLink

ASK = 0x18  # the device asks for bytes: ASK, count (u16 little-endian)
SETTLE = 1.5  # seconds of console silence after the boot stage's last line
DONE = "mpboot-install:"

# The device's end of the link: asks for each piece, and for nothing past `length` bytes (the
# bundle store reads once more at the end of a bundle, to find nothing there).
_SERIAL = """
import sys, micropython


class _Serial:
    def __init__(self, length):
        self.i = sys.stdin.buffer
        self.o = sys.stdout.buffer
        self.ask = bytearray(b'\\x18\\x00\\x00')
        self.left = length

    def readinto(self, buf):
        n = min(len(buf), self.left)
        if not n:
            return 0
        a = self.ask
        a[1] = n & 255
        a[2] = n >> 8
        self.o.write(a)
        got = self.i.readinto(memoryview(buf)[:n])
        self.left -= got
        return got


_serial = _Serial(%d)
"""
INSTALL = _SERIAL + """
from mpboot_fw import install
micropython.kbd_intr(-1)
try:
    install.run(_serial, _serial.left, reset=False)
    print('%s ok')
except install.InstallError as e:
    print('%s refused', e)
finally:
    micropython.kbd_intr(3)
"""
# A bundle: the device's bundle store.
INSTALL_BUNDLE = _SERIAL + """
from mpboot_fw import bundle, bundlestore
micropython.kbd_intr(-1)
try:
    bundlestore.install(_serial)
    print('%s ok')
except bundle.BundleError as e:
    print('%s refused', e)
finally:
    micropython.kbd_intr(3)
"""
STATE_BUNDLE = """
from mpboot_fw import bundle, bundlestore, context
_s = context.load().state
try:
    _c = bundlestore.read_pointer(%r).active
except bundle.BundleError:
    _c = None
print(repr((_s.boot_count, _s.bundle_floor(%r), [tuple(e) for e in _s.events()], _c)))
"""
STATE = """
from mpboot_fw import context, slots
_s = context.load().state
print(repr((_s.boot_count, _s.floor, [tuple(e) for e in _s.events()], slots.label(slots.running()))))
"""
# What the boot stage prints (stage.py): "mpboot: boot N: <event or verdict>". A trial that
# verified goes on to the health check, and a restart follows a confirmation under a watchdog:
# the stage is not done after those.
STAGE_LINE = re.compile(r"mpboot: (?:boot \d+: )?(.*)")
NOT_DONE = re.compile(r"verified |restarting")


def install(port, image, baud=115200, timeout=20.0, echo=None, progress=progress.SILENT):
    """Install `image` (bytes) on the board at `port`; returns a manualinstall.Result (boots
    empty: a real board's boots are seen only as console text, echoed to `echo`). `timeout`:
    seconds the device may stay silent in any step, or its port stay away after the reset.
    `progress(step, done, total)`: see mpboot.progress."""
    name = None
    state, code = STATE, INSTALL
    if hostbundle.is_bundle(image):
        # A bundle (.mpbundle): the bundle store installs it; `running` is then the copy its
        # pointer names, `floor` the bundle's floor.
        name = hostbundle.inspect_bytes(image).get("manifest", {}).get("name") or "?"
        state, code = STATE_BUNDLE % (name, name), INSTALL_BUNDLE
    progress("connecting to %s" % port)
    with DeviceLink(port, baud) as dev:
        try:
            since = dev.eval_printed(state)[0] - 1  # this boot's events count (it ran the stage)
        except DeviceError as e:
            raise MpbootError("%s is not provisioned for mpboot (%s): run mpboot provision first" % (port, e)) from None
        outcome = transfer(dev, image, timeout, progress, code)
        if outcome == "ok":
            dev.reset()
            _watch_trial(dev, timeout, echo, progress)
            dev.enter()
        progress("reading the device's log")
        _, floor, events, running = dev.eval_printed(state)
    accepted, reason, new = manualinstall.judge(events, since, "the installer said: %s" % outcome, name)
    return manualinstall.Result(accepted, reason, new, [], running, floor)


def transfer(dev, image, timeout, progress=progress.SILENT, code=INSTALL):
    """Run the installer (`code`: INSTALL or INSTALL_BUNDLE), serving the image as it asks;
    returns its last word."""
    ser = dev.serial
    dev.start(code % (len(image), DONE, DONE))
    sent, out, err = 0, bytearray(), bytearray()
    manualinstall.sent(progress, 0, len(image))
    with _timeout(ser, timeout):
        while (c := _read(ser, 1)) != b"\x04":
            if c[0] == ASK:
                n = int.from_bytes(_read(ser, 2), "little")
                ser.write(image[sent:sent + n])
                sent = min(sent + n, len(image))
                manualinstall.sent(progress, sent, len(image))
            else:
                out += c
        while (c := _read(ser, 1)) != b"\x04":
            err += c
    text = out.decode(errors="replace")
    if err or DONE not in text:
        last = (err or out).decode(errors="replace").strip().splitlines()
        raise MpbootError("the device's installer failed: %s" % (last[-1] if last else "no answer"))
    return text[text.rindex(DONE) + len(DONE):].strip()


def _watch_trial(dev, timeout, echo, progress):
    """Listen, never write, until the boot stage is done with the trial boot(s): its last line
    is a verdict and the console has been quiet for SETTLE seconds (or chatty for 4 x SETTLE:
    the application runs). A port that goes away (native USB) is reopened. MpbootError after
    `timeout` seconds of silence (unless the port was reopened since the stage's last line) or
    10 x `timeout`."""
    line, last, done_at = bytearray(), None, None
    lost = False  # the port was reopened and no stage line came since: it may have gone meanwhile
    start = heard = time.monotonic()
    saved, ser = dev.serial.timeout, None  # mpremote expects its own timeout back
    progress("trial boot")
    try:
        while True:
            try:
                if ser is not dev.serial:
                    ser = dev.serial
                    ser.timeout = 0.1  # this reconfigures the port: it fails too once the port is gone
                c = ser.read(1)
            except OSError:  # pyserial's SerialException: the port went away (native USB re-enumerates)
                progress("waiting for %s to come back after the reset" % dev.port)
                dev.reopen(timeout)
                progress("trial boot, on the port again")
                line.clear()
                lost, heard = True, time.monotonic()
                continue
            now = time.monotonic()
            if done_at is not None and (now - heard >= SETTLE or now - done_at >= 4 * SETTLE):
                return
            if not c:
                if lost and now - heard > timeout:
                    return  # what the stage said went while the port was away: the log tells
                if now - heard > timeout or now - start > 10 * timeout:
                    raise MpbootError("the board did not finish its trial boot in time (the boot stage's "
                                      "last line: %s)" % last)
                continue
            heard = now
            if c != b"\n":
                line += c
                continue
            text = line.decode(errors="replace").rstrip("\r")
            line.clear()
            if echo:
                echo(text)
            m = STAGE_LINE.search(text)
            if m:
                last, lost = m.group(1), False
                done_at = None if NOT_DONE.match(last) else now
    finally:
        with contextlib.suppress(OSError):  # a port that is gone: its next use tells
            dev.serial.timeout = saved


class _timeout:
    """The port's read timeout set for a while (mpremote expects its own back)."""

    def __init__(self, ser, seconds):
        self.ser, self.seconds = ser, seconds

    def __enter__(self):
        self.saved = self.ser.timeout
        self.ser.timeout = self.seconds

    def __exit__(self, *exc):
        self.ser.timeout = self.saved


def _read(ser, n):
    data = ser.read(n)
    if len(data) < n:
        raise MpbootError("the device stopped answering during the install (no data for %s s)" % ser.timeout)
    return data
