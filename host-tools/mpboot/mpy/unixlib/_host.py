# MicroPython's unix port, driven by the host (mpboot/mpy/unixport.py): this module is both
# `_host`, the synchronous call to the host that the code under test imports, and the loop that
# runs the host's code. Not CPython: it runs inside the `micropython` process.
#
# Two pipes join the process to the host (their fds come in argv of -c); print() and tracebacks
# the code prints go to the process's own stdout/stderr, which the host reads as output. The
# process's stdin is a third pipe: the console's bytes (a UART's RX), for the REPL (_repl.py,
# which the host starts with a run) and sys.stdin alike.
# Frames, both ways: kind (1 byte), u32 LE a, u32 LE b, then a + b bytes.
#   host -> here: "R" code (a) run it;  "V" value (a), reply (b): a call's answer, where the
#                 value's first byte is its type (N none, T/F bool, I int in decimal, S str)
#   here -> host: "B" booted;  "C" a host call: op, NUL and arg (op alone when arg is None) in
#                 a, b = n with bit 31 set when the n bytes follow (send);  "E" a run ended: the
#                 traceback in a (empty when it passed)
# A halt (a power cut, a reset) is the host killing this process while call() waits.
# At the REPL the host raises KeyboardInterrupt with SIGINT (Ctrl-C at the console) while code
# runs. One that comes while a call's frames cross waits until the answer is read (no check for
# it, a branch or a loop, sits between the writes of a question; the reads take it and go on),
# then call() raises it: the frames never get out of step.
import gc
import io
import select
import struct
import sys

import uctypes

root = None  # the host directory this boot's fresh filesystem lives in
_in = None
_out = None
_head = bytearray(9)
_HEAD = "<BII"


interrupted = False  # a KeyboardInterrupt came while an answer was read: call() raises it


_ready = None  # a poll of _in: reads wait there, not in the read


def _read_exact(buf):
    # A KeyboardInterrupt can come as a blocking read returns, its bytes then lost: so the wait
    # is in poll() (interrupted there, nothing is read), and the read takes what is there.
    global interrupted
    mv = memoryview(buf)
    got = 0
    while True:
        try:
            while got < len(buf):
                _ready.poll()
                r = _in.readinto(mv[got:], min(len(buf) - got, 4096))
                got += r  # counted before any check for a pending interrupt
                if not r:
                    sys.exit(0)  # the host went away
            return
        except KeyboardInterrupt:
            interrupted = True


def _frame(kind, a, b):
    struct.pack_into(_HEAD, _head, 0, kind, a, b)
    _out.write(_head)


def call(op, arg, addr, n, send):
    """Ask the host; with `send` the `n` bytes at `addr` go with the question, and reply bytes
    (at most `n`) are written back at `addr`. Blocks until the host answers."""
    global interrupted
    op = str(op)
    sep, arg = (b"", "") if arg is None else (b"\0", str(arg))
    body = uctypes.bytearray_at(addr, n if send else 0)
    _frame(67, len(op) + len(sep) + len(arg), n | (0x80000000 if send and n else 0))
    _out.write(op)  # the question's writes, one after the other
    _out.write(sep)
    _out.write(arg)
    _out.write(body)
    body = None
    # The answer, a read at a time; a KeyboardInterrupt between them (a check for a pending one
    # sits at every branch and loop) starts again at the read that is not done. (The host has
    # written all of an answer before it can send a SIGINT, so no read stops half way.)
    step = 0
    while True:
        try:
            while step < 3:
                if step == 0:
                    _read_exact(_head)
                    step = 1
                if step == 1:
                    _, vlen, blen = struct.unpack(_HEAD, _head)
                    value = bytearray(vlen)
                    _read_exact(value)
                    step = 2
                if step == 2:
                    _read_exact(uctypes.bytearray_at(addr, blen))  # the host sends at most n
                    step = 3
            break
        except KeyboardInterrupt:
            interrupted = True
    if interrupted:  # Ctrl-C while the call crossed: now the code sees it
        interrupted = False
        raise KeyboardInterrupt
    kind = value[0]
    if kind == 73:  # I
        return int(value[1:])
    if kind == 83:  # S
        return str(value[1:], "utf-8")
    if kind == 84 or kind == 70:  # T, F
        return kind == 84
    return None


def _report(e):
    """The traceback text of `e`, as the WebAssembly port reports it (frames of this module
    left out: the code under test is "<stdin>")."""
    try:
        buf = io.StringIO()
        sys.print_exception(e, buf)
        lines = buf.getvalue().split("\n")
        return "\n".join(line for line in lines if "_host.py" not in line)
    except MemoryError:
        return "Traceback (most recent call last):\n%s\n" % type(e).__name__


def _main(fd_in, fd_out, boot_root):
    global _in, _out, _ready, root
    import vfs

    _in = open(fd_in, "rb")
    _ready = select.poll()
    _ready.register(_in, select.POLLIN)
    _out = open(fd_out, "wb")
    root = boot_root
    # A board's view: this boot's own directory is the whole filesystem, with a board's path.
    vfs.umount("/")
    vfs.mount(vfs.VfsPosix(root), "/")
    import os

    os.chdir("/")
    sys.path[:] = ["", ".frozen", "/lib"]
    del os, vfs
    env = {"__name__": "__main__"}
    _frame(66, 0, 0)  # B: booted
    while True:
        _read_exact(_head)
        kind, a, _ = struct.unpack(_HEAD, _head)
        if kind != 82:  # R
            return
        code = bytearray(a)
        _read_exact(code)
        exc = b""
        try:
            code = compile(str(code, "utf-8"), "<stdin>", "exec")
            exec(code, env)
        except BaseException as e:  # noqa: B036 - SystemExit too: the host reports it, as the wasm port does
            code = None
            gc.collect()
            exc = _report(e)
            e = None
        code = None
        _frame(69, len(exc), 0)
        _out.write(exc)
