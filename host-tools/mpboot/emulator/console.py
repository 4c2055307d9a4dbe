"""The emulated board's serial console (UART0) on a pseudo-terminal, for the real mpremote.

    mpboot emulate flash.bin --serial        # prints the pty: mpremote connect /dev/pts/N ...

    console = SerialConsole(Board("flash.bin"), Pty(link="/tmp/ttyESP"))
    console.serve(seconds=60)                 # or until console.stop is set

A client on the pty sees what a board's USB serial port shows: the bootloader's decisions and
the output of boot.py and main.py as the board boots, then MicroPython's REPL, friendly or raw,
where mpremote's raw REPL, exec, eval, run, mount and fs commands work. Ctrl-D soft-resets:
"MPY: soft reboot", boot.py again, and main.py only in friendly mode, as ports/esp32/main.c
does. machine.reset() reboots through the bootloader. sys.stdin reads the console's bytes.
Files written land in the board's LittleFS partition, which goes back to flash at the end of
each boot (a reset, a soft reset, or stopping).

The console drives the REPL of the board's runtime (emulator/runtimes.py) through one interface,
`repl_init` and `repl_input`: on the unix port the board's REPL is unixlib/_repl.py (pyexec.c's
friendly, raw and raw-paste modes, in MicroPython), on the WebAssembly port the interpreter's
own event-driven REPL.

With `download=True` (`mpboot emulate --serial --download`) the board powers on as with GPIO0
held low: the ROM prints its download-mode banner and its serial loader (romloader.py) answers
esptool until esptool leaves it (FLASH_END), then the board boots its flash. A pty has no DTR or
RTS line, so nothing else can put the board there: esptool's reset sequence reaches nobody.

Where it differs from a board, and why:
- The WebAssembly port's REPL has no raw-paste mode (it spins waiting for input it cannot get),
  so there the console answers mpremote's raw-paste request with "R\\x00" (understood, not
  supported) and mpremote falls back to the plain raw REPL, 256 bytes every 10 ms. The unix
  port's REPL has it (the runtime's `raw_paste`), so it gets the request.
- On the WebAssembly port code that runs cannot be interrupted with Ctrl-C: the interpreter
  runs synchronously and the console reads on when it returns. On the unix port Ctrl-C (the
  byte micropython.kbd_intr() set) interrupts code run at the REPL, as on a board. On both,
  main.py must return for the REPL to be reached: one that runs past `run_timeout` is a hang
  and the board power-cycles.
- print() ends lines with "\\n" (a board's UART driver sends "\\r\\n"); bytes pass unchanged.
- Output nobody reads for WRITE_STALL seconds is dropped until the client sends again, as a
  UART with nothing attached loses it.
"""

import os
import select
import termios
import threading
import time
import tty
from pathlib import Path

from mpboot.emulator import romloader
from mpboot.emulator.board import CAUSE_NAMES, SOFT_RESET
from mpboot.emulator.flash import NorFlash
from mpboot.errors import MpbootError
from mpboot.mpy.runtime import RunResult

RAW_PASTE = b"\x05A\x01"  # mpremote: enter raw-paste mode
RAW_PASTE_REFUSED = b"R\x00"
CTRL_A, CTRL_B = 1, 2  # raw REPL, friendly REPL
SOFT_REBOOT = b"MPY: soft reboot\r\n"  # ports/esp32/main.c
STUCK = ("no_app", "bad_partition_table")  # the bootloader finds nothing and resets forever
BAUDS = {getattr(termios, "B%d" % n): n for n in (9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600,
                                                  1500000, 2000000, 3000000) if hasattr(termios, "B%d" % n)}


class Pty:
    """A pseudo-terminal: the board writes and reads the master side, clients open `path`.
    `link`: also reachable through a symlink at that path (replaced atomically)."""

    WRITE_STALL = 2.0

    def __init__(self, link=None):
        self.master, self._slave = os.openpty()
        # Raw until a client configures it (pyserial does on open). Holding the slave open keeps
        # the master usable while no client is connected.
        tty.setraw(self._slave)
        os.set_blocking(self.master, False)
        self.path = os.ttyname(self._slave)
        self.link = None
        self._dropping = False
        if link:
            try:
                self.link = _make_link(Path(link), self.path)
            except MpbootError:
                self.close()
                raise

    def read(self, timeout):
        """Bytes a client sent, or b"" after `timeout` seconds."""
        if not select.select([self.master], [], [], timeout)[0]:
            return b""
        try:
            data = os.read(self.master, 65536)
        except (BlockingIOError, InterruptedError):
            return b""
        if data:
            self._dropping = False  # someone is there
        return data

    def write(self, data):
        view = memoryview(bytes(data))
        stalled_at = None
        while view and not self._dropping:
            try:
                view = view[os.write(self.master, view):]
                stalled_at = None
                continue
            except BlockingIOError:
                pass
            now = time.monotonic()
            stalled_at = stalled_at or now
            if now - stalled_at > self.WRITE_STALL:
                self._dropping = True
            else:
                select.select([], [self.master], [], 0.1)

    def line(self, text):
        self.write(text.encode() + b"\r\n")

    def baud(self):
        """The baud rate the client set on its side (a pty carries bytes at any rate)."""
        return BAUDS.get(termios.tcgetattr(self.master)[5], 115200)

    def close(self):
        if self.link is not None and self.link.is_symlink() and os.readlink(self.link) == self.path:
            self.link.unlink()
        for fd in (self.master, self._slave):
            os.close(fd)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _make_link(link, target):
    """A symlink at `link` to `target`, replacing an old symlink there (a previous run's) but
    never a file or directory."""
    if link.exists() and not link.is_symlink():
        raise MpbootError("--serial-link %s: that path exists and is not a symlink (choose another path)" % link)
    tmp = link.with_name(".%s.%d" % (link.name, os.getpid()))
    try:
        os.symlink(target, tmp)
        os.replace(tmp, link)
    except OSError as e:
        if tmp.is_symlink():
            tmp.unlink()
        raise MpbootError("--serial-link %s: cannot make the link: %s (choose a path in an existing, "
                          "writable directory)" % (link, e.strerror or e)) from None
    return link


class SerialConsole:
    """Boots `board` again and again, as a board on a desk does, with its console on `pty`.
    Takes over the board's echo: what the board prints goes to the console.
    `download`: the board powers on in the ROM's serial download mode, as with GPIO0 (BOOT) held
    low, and answers esptool (romloader.py) until esptool leaves the loader; then it boots."""

    def __init__(self, board, pty, download=False):
        if download:
            check_download(board.board)
        self.board = board
        self.pty = pty
        self.download = download
        board.echo = pty.line
        self.stop = threading.Event()
        self.raw = False  # the REPL's mode as the client switched it: Ctrl-A raw, Ctrl-B friendly
        self._typed = b""  # bytes the REPL did not consume before a soft reset
        self._held = b""  # the start of a raw-paste request, split across reads
        self._deadline = None

    def serve(self, seconds=None):
        """Run until `stop` is set (or `seconds` have passed); returns the BootRecords."""
        self._deadline = None if seconds is None else time.monotonic() + seconds
        records = []
        if self.download:
            self._download()
        while not self._stopping():
            kind, cause = self.board.next_boot
            if kind == "hard":
                self.pty.line("=== boot %d (hard, reset cause %s) ===" % (len(self.board.records), CAUSE_NAMES[cause]))
            record = self.board.boot(repl=self._repl)
            records.append(record)
            if record.outcome == "soft_reboot":
                self.pty.write(SOFT_REBOOT)
            elif record.outcome not in ("ok", "exception"):
                self.pty.line("--- outcome: %s%s" % (record.outcome, " (%s)" % record.error if record.error else ""))
            if record.outcome in STUCK:
                self.pty.line("--- nothing to boot: the board resets forever")
                while not self._stopping():
                    time.sleep(0.1)
        return records

    def _download(self):
        for line in romloader.BANNER:
            self.pty.line(line)
        loader = romloader.RomLoader(self.board.flash, self.board.unique_id, baud=self.pty.baud)
        if loader.serve(self.pty.read, self.pty.write, self._stopping) == "reboot":
            # A software reset (the real ROM's rst:0xc, SW_CPU_RESET); "run" starts the flash's
            # bootloader without one, so the power-on cause stays.
            self.board.reset(SOFT_RESET)

    def _stopping(self):
        if self._deadline is not None and time.monotonic() > self._deadline:
            self.stop.set()
        return self.stop.is_set()

    # -- the REPL -----------------------------------------------------------------------------
    def _repl(self, mp, handler):
        """Drive the interpreter's REPL until it soft-resets, the board halts, or we stop."""
        self.raw = self.board.raw_repl
        result = mp.repl_init(raw=self.raw, handler=handler, output=self.pty.write, timeout=self.board.run_timeout)
        while result.ok and not result.exit:
            data = self._typed or self._wait_input()
            self._typed = b""
            if data is None:
                break
            result = self._type(mp, handler, data)
        self.board.raw_repl = self.raw
        return result

    def _type(self, mp, handler, data):
        segments = self._segments(data, mp.raw_paste)
        result = RunResult(True, [])
        for i, (chunk, paste) in enumerate(segments):
            if chunk:
                result = mp.repl_input(chunk, handler, output=self.pty.write, stdin=self._stdin,
                                       timeout=self.board.run_timeout)
                self._track(chunk[:len(chunk) - len(result.rest)])
                if result.raw is not None:
                    self.raw = result.raw  # the REPL says its mode itself (the unix port's)
                if result.exit:
                    # What it did not consume waits for the REPL after the soft reset (a reset
                    # or a hang loses it, as a UART's buffer is lost).
                    later = b"".join(c + (RAW_PASTE if p else b"") for c, p in segments[i + 1:])
                    self._typed = result.rest + (RAW_PASTE if paste else b"") + later
                if result.exit or not result.ok:
                    return result
            if paste:
                self.pty.write(RAW_PASTE_REFUSED)
        return result

    def _segments(self, data, native=False):
        """Split input at raw-paste requests (made in the raw REPL): [(bytes for the REPL, then
        refuse raw paste?)]. `native`: the REPL has raw-paste mode itself, it gets them all."""
        if native:
            return [(data, False)]
        data = self._held + data
        self._held = b""
        raw = self.raw
        segments, start, i = [], 0, 0
        while i < len(data):
            c = data[i]
            if c == RAW_PASTE[0] and raw:
                tail = data[i:i + len(RAW_PASTE)]
                if tail == RAW_PASTE:
                    segments.append((data[start:i], True))
                    i = start = i + len(RAW_PASTE)
                    continue
                if RAW_PASTE.startswith(tail):  # the rest of it has not arrived yet
                    self._held = tail
                    data = data[:i]
                    break
            elif c in (CTRL_A, CTRL_B):
                raw = c == CTRL_A
            i += 1
        segments.append((data[start:], False))
        return segments

    def _track(self, consumed):
        """The REPL's mode after the bytes it consumed: Ctrl-A raw, Ctrl-B friendly."""
        for c in consumed:
            if c in (CTRL_A, CTRL_B):
                self.raw = c == CTRL_A

    def _wait_input(self):
        """The next bytes from the client, or None when stopping."""
        while not self._stopping():
            data = self.pty.read(0.1)
            if data:
                return data
        return None

    def _stdin(self, timeout=None):
        """For sys.stdin reads: the next bytes from the client (b"": end of input, when stopping).
        With `timeout` (the unix port asks while code runs): what came within that many seconds,
        b"" for nothing, None when stopping."""
        data, self._typed = self._typed, b""
        if data:
            return data
        if timeout is None:
            return self._wait_input() or b""
        if self._stopping():
            return None
        return self.pty.read(timeout)


def check_download(board):
    """Download mode is for boards whose chip's ROM loader is emulated: the classic ESP32's."""
    if board.chip != "esp32":
        raise MpbootError("download mode: only the classic ESP32's ROM loader is emulated, and board %s has an %s"
                          % (board.name, board.chip))


def run(flash, board, link=None, run_timeout=20.0, seconds=None, download=False, runtime=None):
    """`mpboot emulate --serial`: serve the board's console until SIGINT/SIGTERM (or `seconds`),
    announcing the pty first; the flash image is updated as the board runs. `download`: power on
    in the ROM's download mode; a flash file that does not exist yet is a new board's, erased.
    `runtime`: "unix" or "wasm" (None: the default, emulator/runtimes.py)."""
    import signal

    from mpboot.emulator.board import Board

    if download:
        check_download(board)
    if download and not Path(flash).exists():
        NorFlash(size=board.flash_size, path=flash).close()
    with Pty(link) as pty, Board(flash, board, runtime=runtime, run_timeout=run_timeout) as emulated:
        console = SerialConsole(emulated, pty, download=download)
        previous = {sig: signal.signal(sig, lambda *_: console.stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            print("serial console of the emulated %s: %s%s" % (emulated.board.name, pty.path,
                                                               " (link %s)" % link if link else ""))
            if download:
                print("  in the ROM's download mode (GPIO0 held low): mpboot flash --port %s FLASH.bin" % pty.path)
            print("  mpremote connect %s repl      (stop with Ctrl-C here)" % pty.path, flush=True)
            records = console.serve(seconds)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    print("stopped after %d boots; flash image %s updated" % (len(records), flash))
    return records
