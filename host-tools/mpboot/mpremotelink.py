"""A MicroPython board's raw REPL over its serial port, through the real mpremote used as a
library (pinned in requirements.lock). The one module of mpboot that calls mpremote's API, so a
change there is met here.

    with DeviceLink("/dev/ttyUSB0") as dev:       # raw REPL after a soft reset (clean heap)
        dev.exec("import os")
        names = dev.eval_printed("print(repr(os.listdir()))")
        dev.write_file("/lib/x.py", data)           # whole or not at all (temp file + rename)

An emulated board is reached the same way: `mpboot emulate FLASH.bin --serial` gives its pty.
"""

import ast
import contextlib
import io
import time

from mpremote.transport import TransportError
from mpremote.transport_serial import SerialTransport

from mpboot import serialports
from mpboot.errors import MpbootError

WRITE_CHUNK = 1024  # bytes per exec when writing a file (mpremote's own default is 256)

HASHES = """
import binascii, hashlib
def _h(p, b=bytearray(512)):
    try:
        f = open(p, 'rb')
    except OSError:
        return None
    h = hashlib.sha256()
    while True:
        n = f.readinto(b)
        if not n:
            break
        h.update(b if n == len(b) else b[:n])
    f.close()
    return binascii.hexlify(h.digest()).decode()
print(repr([_h(p) for p in %r]))
del _h
"""
MAKEDIRS = """
import os
for d in %r:
    try:
        os.mkdir(d)
    except OSError as e:
        if e.errno != 17:
            raise
"""


class DeviceError(MpbootError):
    """Code run on the device raised; the message ends with the device's exception."""


class DeviceLink:
    def __init__(self, port, baud=115200, soft_reset=True):
        """Open `port` and enter the raw REPL, after a soft reset unless `soft_reset` is False
        (then a running main.py is interrupted with Ctrl-C instead)."""
        self.port, self.baud = port, baud
        try:
            self.transport = self._open()
        except TransportError as e:
            raise MpbootError("cannot open %s: %s (is the board connected, and the port free?)" % (port, e)) from None
        try:
            self.enter(soft_reset)
        except MpbootError:
            self._close_port()
            raise

    def _open(self):
        # A read timeout: on a pty mpremote reads without checking for data first, and with
        # none a port nobody answers would block it for ever instead of timing out.
        return SerialTransport(self.port, baudrate=self.baud, timeout=1)

    def reopen(self, timeout):
        """The port again after it went away: a board with native USB re-enumerates when it
        resets. Waits up to `timeout` seconds for the port to come back and open."""
        self._close_port()
        deadline = time.monotonic() + timeout
        why = "it did not come back"
        while serialports.wait_for(self.port, deadline - time.monotonic()):
            try:
                self.transport = self._open()
                return
            except TransportError as e:  # there, but not ready yet (udev still setting it up)
                why = "it came back but cannot be opened: %s" % e
            if time.monotonic() >= deadline:
                break
            time.sleep(serialports.POLL)
        raise MpbootError("%s went away when the board reset, and %s within %s s (a board with native USB "
                          "re-enumerates: check the cable, or raise --timeout)" % (self.port, why, timeout))

    def enter(self, soft_reset=False):
        try:
            with contextlib.redirect_stdout(io.StringIO()):  # mpremote prints what it got on failure
                self.transport.enter_raw_repl(soft_reset=soft_reset)
        except (TransportError, OSError) as e:
            raise MpbootError("no MicroPython REPL answers on %s (%s): is MicroPython running there?"
                              % (self.port, e)) from None

    @property
    def serial(self):
        """The open pyserial port, for a protocol of one's own after `start()`."""
        return self.transport.serial

    def exec(self, code, timeout=10):
        """Run `code` on the device; returns what it printed. `timeout`: seconds of silence."""
        try:
            out, err = self.transport.exec_raw(code, timeout=timeout)
        except (TransportError, OSError) as e:
            raise self.lost(e) from None
        if err:
            last = err.decode(errors="replace").strip().splitlines()[-1]
            raise DeviceError("the device raised %s" % last)
        return out.decode(errors="replace")

    def start(self, code):
        """Send `code` to run without waiting for it: the caller reads the device's output (and
        its two end markers, \\x04) from `serial`."""
        try:
            self.transport.exec_raw_no_follow(code)
        except (TransportError, OSError) as e:
            raise self.lost(e) from None

    def hashes(self, paths):
        """{path: sha256 hex of the device's file, or None when it does not exist}."""
        return dict(zip(paths, self.eval_printed(HASHES % (list(paths),))))

    def eval_printed(self, code, timeout=10):
        """Run `code`, which prints one literal; return its value."""
        return ast.literal_eval(self.exec(code, timeout).strip())

    def makedirs(self, dirs):
        """Create directories (parents first), keeping those that exist."""
        if dirs:
            self.exec(MAKEDIRS % (list(dirs),))

    def write_file(self, path, data, progress=None):
        """Write `data` to `path` on the device: into a temporary file, then renamed over the
        old one (littlefs renames atomically), so a cut leaves the old file or the new one.
        `progress(written, total)` after each chunk."""
        tmp = path + ".new"
        try:
            self.transport.fs_writefile(tmp, data, chunk_size=WRITE_CHUNK, progress_callback=progress)
        except (TransportError, OSError) as e:
            raise self.lost(e) from None
        self.exec("import os\nos.rename(%r, %r)" % (tmp, path))

    def reset(self):
        """machine.reset(), not waiting for an answer (the board reboots)."""
        try:
            self.transport.exec_raw_no_follow("import machine\nmachine.reset()")
        except OSError:
            pass  # a board with native USB can take its port away before its "OK" is read
        except TransportError as e:
            raise self.lost(e) from None

    def lost(self, e):
        return MpbootError("lost the device on %s: %s (check the cable, then retry)" % (self.port, e))

    def close(self):
        try:
            if self.transport.in_raw_repl:
                self.transport.exit_raw_repl()
        except OSError:
            pass  # the port is gone already
        self._close_port()

    def _close_port(self):
        try:
            self.transport.close()
        except OSError:  # gone already: mpremote's close sets the modem lines first
            self.transport.serial.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
