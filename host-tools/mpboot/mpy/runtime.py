"""The real MicroPython runtime (official WebAssembly port, under Node) driven from CPython.

One `MicroPython` object owns one Node process (`bridge.mjs`). Each `boot()` starts a fresh
interpreter in it (a few milliseconds), `put_file()` fills its filesystem, and `run()` executes
code. MicroPython code reaches the host synchronously with

    import _host
    value = _host.call(op, arg, addr, n, send)

where `addr` is `uctypes.addressof(buf)`: with `send` true the host handler receives those `n`
bytes, and bytes the handler returns are copied back into the buffer. The handler may answer
`HALT` to stop the interpreter at once (a power cut, a reset); the run then ends with
`halted=True`. A run that exceeds its timeout kills the process (a hang past the watchdog); the
next `boot()` starts a new one.

The interpreter's REPL can drive it instead of `run()`, as a board's serial console does:
`repl_init()` starts it, `repl_input(bytes)` types at it, and what it prints comes back as raw
bytes (emulator/console.py serves it on a pseudo-terminal). Reads from `sys.stdin` ask the
`stdin` callback of the run for bytes (none given: end of input).

Memory: this port's `gc.collect()` only frees at the top level of a run (between `run()`
calls; inside one it is deferred), so `gc.mem_alloc()` inside a run counts garbage too. To
sample the live heap part-way through an operation, drive it a step per `run()` (for example a
generator advanced with `next()`) and call `live_heap()` between steps.
"""

import json
import os
import selectors
import shutil
import struct
import subprocess
import time
from pathlib import Path

HALT = object()

_BRIDGE = Path(__file__).with_name("bridge.mjs")
# The npm package (pinned in package.json / package-lock.json; tests/test_packaging.py checks
# they agree) and its module.
_PORT_NPM = "@micropython/micropython-webassembly-pyscript"
_PORT_VERSION = "1.27.0"
_PORT_PACKAGE = Path(_PORT_NPM) / "micropython.mjs"


class RuntimeMissing(RuntimeError):
    pass


class RunResult:
    def __init__(self, ok, output, exc=None, halted=False, timed_out=False, halt_reason=None, exit=0, rest=b"",
                 raw=None):
        self.ok = ok
        self.output = output
        self.exc = exc
        self.halted = halted
        self.timed_out = timed_out
        self.halt_reason = halt_reason
        self.exit = exit  # REPL steps: nonzero when the REPL asked for a soft reset
        self.rest = rest  # ... and the input bytes it had not consumed then
        self.raw = raw  # ... and the REPL's mode after it (True: raw), where the REPL says it

    @property
    def text(self):
        return "\n".join(self.output)

    def check(self):
        """Return the printed text, or raise with the MicroPython traceback."""
        if not self.ok:
            raise MicroPythonError(self.exc or ("timed out" if self.timed_out else "halted"), self)
        return self.text


class MicroPythonError(AssertionError):
    def __init__(self, message, result):
        super().__init__("MicroPython run failed:\n" + "\n".join(result.output[-40:]) + "\n" + str(message))
        self.result = result


def port_module():
    """Locate the WebAssembly port installed by npm (the repository's node_modules)."""
    override = os.environ.get("MPBOOT_MICROPYTHON_MJS")
    if override:
        return Path(override)
    # A checkout has it in its node_modules (make setup); an installed mpboot looks from the
    # current directory up, where `npm install` puts it.
    for parent in list(Path(__file__).resolve().parents) + [Path.cwd()] + list(Path.cwd().parents):
        candidate = parent / "node_modules" / _PORT_PACKAGE
        if candidate.exists():
            return candidate
    raise RuntimeMissing(
        "MicroPython WebAssembly port not found (the emulated board runs it under Node.js): run "
        "`npm install %s@%s` in this directory, `npm ci` in an mpboot checkout, or set "
        "MPBOOT_MICROPYTHON_MJS to its micropython.mjs" % (_PORT_NPM, _PORT_VERSION)
    )


def host_answer(answer):
    """A handler's answer as (halt reason or None, value, reply bytes): it returns a value, a
    (value, reply bytes) pair, HALT, or (HALT, why)."""
    if answer is HALT or (isinstance(answer, tuple) and answer[0] is HALT):
        return (answer[1] if isinstance(answer, tuple) else "halt"), None, b""
    value, reply = answer if isinstance(answer, tuple) else (answer, b"")
    return None, value, reply or b""


class Runtime:
    """What every MicroPython runtime here offers on top of boot(), put_file() and run()."""

    raw_paste = False  # does its REPL have raw-paste mode (else the console refuses the requests)?

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def put_tree(self, src, dest):
        """Copy the .py files (and data files) under `src` to `dest` in the interpreter."""
        src = Path(src)
        for path in sorted(src.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                self.put_file(dest + "/" + path.relative_to(src).as_posix(), path.read_bytes())

    def put_firmware(self):
        """Make the device package importable, as it is on a board (`/lib/mpboot_fw`)."""
        import mpboot_fw

        self.put_tree(Path(mpboot_fw.__file__).parent, "/lib/mpboot_fw")

    def live_heap(self):
        """Bytes of the heap in use by live objects, after a real collection."""
        result = self.run("import gc\ngc.collect()\nprint(gc.mem_alloc())")
        return int(result.check().split()[-1])

    def run_fresh(self, code, files=None, firmware=True, **kw):
        """Boot a fresh interpreter, install the device package and `files`, run `code`."""
        self.boot()
        if firmware:
            self.put_firmware()
        for path, data in (files or {}).items():
            self.put_file(path, data)
        return self.run(code, **kw)


class MicroPython(Runtime):
    name = "wasm"

    def __init__(self, heap=1024 * 1024):
        self.heap = heap
        self._proc = None
        self._buf = b""

    # -- process ----------------------------------------------------------------------------
    def _start(self):
        node = shutil.which("node")
        if not node:
            raise RuntimeMissing("node not found: MicroPython's WebAssembly port runs under Node.js")
        self._proc = subprocess.Popen(
            [node, str(_BRIDGE), str(port_module())],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            bufsize=0,
        )
        self._sel = selectors.DefaultSelector()
        self._sel.register(self._proc.stdout, selectors.EVENT_READ)
        self._buf = b""
        header, _ = self._read_frame(None)
        assert header["t"] == "ready", header

    def close(self):
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            self._proc.stdin.close()
            self._proc.stdout.close()
            self._sel.close()
            self._proc = None

    def _send(self, header, body=b""):
        h = json.dumps(header).encode()
        self._proc.stdin.write(struct.pack("<II", len(h), len(body)) + h + bytes(body))

    def _read_exact(self, n, deadline):
        while len(self._buf) < n:
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0 or not self._sel.select(left):
                    raise TimeoutError
            chunk = os.read(self._proc.stdout.fileno(), 1 << 16)
            if not chunk:
                raise RuntimeError("MicroPython bridge exited unexpectedly")
            self._buf += chunk
        data, self._buf = self._buf[:n], self._buf[n:]
        return data

    def _read_frame(self, deadline):
        hlen, blen = struct.unpack("<II", self._read_exact(8, deadline))
        header = json.loads(self._read_exact(hlen, deadline))
        return header, self._read_exact(blen, deadline) if blen else b""

    # -- interpreter ------------------------------------------------------------------------
    def boot(self, heap=None):
        """Start a fresh interpreter (a new Node process if the last one was killed)."""
        if self._proc is None or self._proc.poll() is not None:
            self._start()
        self._send({"t": "boot", "heap": heap or self.heap})
        header, _ = self._read_frame(None)
        assert header["t"] == "booted", header

    def put_file(self, path, data):
        if isinstance(data, str):
            data = data.encode()
        self._send({"t": "file", "path": path}, data)
        header, _ = self._read_frame(None)
        assert header["t"] == "ok", header

    def run(self, code, handler=None, timeout=None, echo=None, stdin=None):
        """Run `code`; `handler(op, arg, body, n)` answers `_host.call` (value, reply bytes);
        `stdin()` returns the next bytes sys.stdin reads (b"": end of input, the default)."""
        self._send({"t": "run", "code": code})
        return self._serve(handler, timeout, echo=echo, stdin=stdin)

    def repl_init(self, raw=False, handler=None, output=None, timeout=None):
        """Start the REPL in this interpreter: friendly (banner, `>>> `), or raw, as a board
        is after a soft reset in raw mode. `output(bytes)` receives what it prints."""
        self._send({"t": "repl_init", "raw": bool(raw)})
        return self._serve(handler, timeout, output=output)

    def repl_input(self, data, handler=None, output=None, stdin=None, timeout=None):
        """Type `data` at the REPL. Stops early when the REPL asks for a soft reset (`exit`
        nonzero, `rest`: the bytes not consumed). `timeout` counts the interpreter's time,
        not the time `stdin()` waits for input."""
        self._send({"t": "rx"}, data)
        return self._serve(handler, timeout, output=output, stdin=stdin)

    def _serve(self, handler, timeout, echo=None, output=None, stdin=None):
        """Answer the bridge until the run or REPL step is done."""
        deadline = None if timeout is None else time.monotonic() + timeout
        lines = []
        try:
            while True:
                header, body = self._read_frame(deadline)
                kind = header["t"]
                if kind == "out":
                    lines.append(header["s"])
                    if echo:
                        echo(header["s"])
                elif kind == "tx":
                    if output:
                        output(body)
                elif kind == "stdin":
                    start = time.monotonic()
                    data = stdin() if stdin else b""
                    if deadline is not None:
                        deadline += time.monotonic() - start
                    self._send({"t": "ret"}, data)
                elif kind == "call":
                    if handler is None:
                        raise RuntimeError("_host.call(%r) with no handler" % header["op"])
                    why, value, reply = host_answer(handler(header["op"], header["arg"], body, header["n"]))
                    if why is not None:
                        self._send({"t": "halt", "why": why})
                        continue
                    self._send({"t": "ret", "v": value}, reply)
                elif kind == "done":
                    return RunResult(
                        header["ok"], lines, header.get("exc"), header.get("halted", False),
                        halt_reason=header.get("exc") if header.get("halted") else None,
                        exit=header.get("exit", 0), rest=body,
                    )
        except TimeoutError:
            self.close()
            return RunResult(False, lines, "timed out", timed_out=True)
