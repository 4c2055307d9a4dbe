# The board's REPL on MicroPython's unix port: what shared/runtime/pyexec.c does on a board
# (friendly REPL, raw REPL, raw-paste mode), in MicroPython, byte for byte as mpremote expects
# it. Not CPython. The host starts it with a run (unixport.py, REPL_START) when the console
# reaches the REPL, compiled by mpy-cross where it can, so a boot that never gets there pays
# nothing for it, and one that does needs little heap to load it.
#
# The console's bytes arrive on stdin (fd 0), one stream for the REPL and sys.stdin, as a UART's
# RX buffer is on a board; the REPL reads it a byte at a time so that what it does not consume
# is still there for code that reads sys.stdin. What it prints goes to stdout unchanged.
# Frames to the host (kind, a = bytes that follow, b):
#   "I" b = k: idle: stdin is empty and every console byte of the host's batches up to k
#       was read; the host's REPL step is over. The host sends "S" (a = k) after the k-th
#       batch is all in stdin, never while code runs (call() is reading its answers then)
#   "X": code runs: Ctrl-C is a SIGINT from now on (KeyboardInterrupt in the code)
#   "K" b = c + 1: the code called micropython.kbd_intr(c): byte c is the SIGINT (0: none, the
#       console's bytes all go to stdin), until the code ends
#   "Y": the code ended; the host answers "A" and sends no SIGINT after it
#   "Z" b = 1 in the raw REPL: soft reset; the host then closes stdin and this sends
#   "Q" + the bytes stdin still held: the console's input that waits for the next boot
import struct
import sys

import _host
import select

CTRL_A, CTRL_B, CTRL_C, CTRL_D, CTRL_E = 1, 2, 3, 4, 5
WINDOW = 128  # raw paste's flow-control window: half MICROPY_REPL_STDIN_BUFFER_MAX (256)
COMPOUND = ("if", "while", "for", "try", "with", "def", "class", "async")

_rx = sys.stdin.buffer
_tx = sys.stdout.buffer
_byte = bytearray(1)
_poll = select.poll()
_poll.register(_rx, select.POLLIN)
_poll.register(_host._in, select.POLLIN)
_sync = 0  # the last "S" frame's k
_told = -1  # the last k an "I" frame reported
_acks = 0  # "A" frames seen
_fhead = bytearray(9)


def _w(data):
    _tx.write(data)


def _frame_in():
    """One frame from the host while the REPL waits: "S" or "A"."""
    global _acks, _sync
    _host._read_exact(_fhead)
    kind, a, _ = struct.unpack("<BII", _fhead)
    if kind == 83:  # S
        _sync = a
    elif kind == 65:  # A
        _acks += 1
    else:
        sys.exit(0)  # the host stopped this REPL


def _getch():
    """The next console byte; tells the host when there is none (and its input is all read)."""
    global _told
    while True:
        events = _poll.poll(0)
        if not events:
            if _told != _sync:
                _host._frame(73, 0, _sync)  # I
                _told = _sync
            events = _poll.poll(-1)
        ready = False
        for obj, _ in events:
            if obj is _rx:
                ready = True
            else:
                _frame_in()
        if ready:
            if not _rx.readinto(_byte):
                sys.exit(0)  # the host went away
            return _byte[0]


def _handshake(kind):
    """Send "X" or "Y" and wait for the host's "A" (frames before it taken); the Ctrl-C that
    came meanwhile, or None."""
    intr = None
    want = _acks + 1
    sent = False
    while _acks < want:
        try:
            if not sent:
                _host._frame(kind, 0, 0)
                sent = True  # (no check for an interrupt between the write and this)
            _frame_in()
        except KeyboardInterrupt as e:
            intr = e
    if _host.interrupted:  # one that _read_exact held back
        _host.interrupted = False
        intr = intr or KeyboardInterrupt()
    return intr


def _run(code, env):
    """Execute `code` with Ctrl-C interrupting it; the exception it ended with, or None."""
    # "X": after the host's answer no "S" comes (call() reads the answers then) and Ctrl-C is a
    # SIGINT; "Y": after the answer no SIGINT comes. One the host sent before it read "Y" can
    # still arrive: it is taken after, as the code's.
    exc = _handshake(88)  # X
    if exc is None:
        try:
            try:
                exec(code, env)
            except BaseException as e:  # noqa: B036 - as pyexec: SystemExit and KeyboardInterrupt too
                exc = e
        except BaseException as e:  # noqa: B036 - a second Ctrl-C while the first was caught
            exc = e
    late = _handshake(89)  # Y
    exc = exc or late
    try:
        for _ in range(2):  # delivered by now (before the read of "A" returned): taken here
            pass
    except KeyboardInterrupt as e:
        exc = exc or e
    return exc


def execute(src, mode, env, eof):
    """parse_compile_execute: 0, or 1 for a soft reset (SystemExit). `eof`: the raw REPL's
    \\x04 after the output and after the traceback."""
    exc = None
    try:
        code = compile(str(src, "utf-8"), "<stdin>", mode)
    except BaseException as e:  # noqa: B036 - SyntaxError, MemoryError, a bad byte
        code = None
        exc = e
    src = None
    if code is not None:
        exc = _run(code, env)
        code = None
    if eof:
        _w(b"\x04")
    ret = 0
    if isinstance(exc, SystemExit):
        ret = 1
    elif exc is not None:
        _w(_traceback(exc))
    exc = None
    if eof:
        _w(b"\x04")
    return ret


def _traceback(exc):
    """As pyexec prints it (mp_plat_print: "\\r\\n" line ends), without this module's frames."""
    lines = _host._report(exc).split("\n")
    return "\r\n".join(line for line in lines if "_repl.py" not in line).encode()


class Repl:
    def __init__(self, env, raw):
        self.env = env
        self.raw = raw
        self.line = bytearray()
        self.start = 0  # where the line being edited starts (continuation lines)
        self.cont = False
        self.paste = False
        self.esc = 0
        self.indent = True  # auto-indent, until a space or tab right after one
        self.just_added = False

    # -- raw REPL ---------------------------------------------------------------------------
    def raw_char(self, c):
        line = self.line
        if c == CTRL_A:
            if len(line) == 2 and line[0] == CTRL_E:
                ret = self.raw_paste(line[1])
                if ret:
                    return ret
            else:
                _w(b"raw REPL; CTRL-B to exit\r\n")
        elif c == CTRL_B:
            self.raw = False
            self.restart(prompt=False)
            self.friendly_char(CTRL_B)
            return 0
        elif c == CTRL_C:
            self.line = bytearray()
            return 0
        elif c != CTRL_D:
            line.append(c)
            return 0
        else:
            _w(b"OK")
            if not line:
                _w(b"\r\n")
                return 1
            self.line = bytearray()
            ret = execute(line, "exec", self.env, True)
            line = None
            if ret:
                return ret
        self.line = bytearray()
        _w(b">")
        return 0

    def raw_paste(self, c):
        if c != ord("A"):
            _w(b"R\x00")
            return 0
        _w(b"R\x01" + bytes((WINDOW & 0xFF, WINDOW >> 8, 1)))
        buf = bytearray()
        remain = WINDOW
        while True:
            c = _getch()
            if c == CTRL_C or c == CTRL_D:
                _w(b"\x04")
                break
            buf.append(c)
            remain -= 1
            if not remain:
                _w(b"\x01")
                remain = WINDOW
        if c == CTRL_C:
            buf = None
            _w(b"\x04")
            _w(_traceback(KeyboardInterrupt()))
            _w(b"\x04")
            return 0
        return execute(buf, "exec", self.env, True)

    # -- friendly REPL ----------------------------------------------------------------------
    def readline_char(self, c):
        """shared/readline/readline.c: -1 while editing, 0 at the end of the line, or a control
        key; with its auto-indent. The cursor stays at the end (no arrow keys, history or
        completion here)."""
        line = self.line
        just_added, self.just_added = self.just_added, False
        if self.esc:
            # ESC [ digits ~, ESC [ letter, ESC O letter: cursor keys, not edited here
            if self.esc == 1:
                self.esc = 2 if c == 91 else 3 if c == 79 else 0  # [ O
            elif self.esc == 2:
                self.esc = 4 if 48 <= c <= 57 else 0
            else:
                self.esc = 0
            return -1
        if CTRL_A <= c <= CTRL_E and len(line) == self.start:
            return c  # a control key on an empty line
        if c == CTRL_C:
            return c  # cancel
        if c == 13:
            _w(b"\r\n")
            return 0
        if c == 27:
            self.esc = 1
        elif c == 8 or c == 127:
            if len(line) > self.start:
                n = len(line) - self.start
                n = 4 if n >= 4 and line[self.start:] == b" " * n else 1
                self.line = line[:len(line) - n]  # (no `del` on a bytearray here)
                _w(b"\x08" * n + b"\x1b[K")
        elif just_added and (c == 9 or c == 32):
            # tab or space right after an auto-indent: no more of it; a space takes 3 back
            self.indent = False
            if c == 32:
                self.line = line[:len(line) - 3]
                _w(b"\x08\x08\x08")
        elif c == 9:
            if line and line[-1] in b" \n":
                line.extend(b"    ")
                _w(b"    ")
        elif 32 <= c <= 126:
            line.append(c)
            _w(bytes((c,)))
        return -1

    def newline(self):
        """readline_note_newline: the continuation prompt, and the auto-indent."""
        line = self.line
        self.start = len(line)
        _w(b"... ")
        if not self.indent or len(line) < 2 or line[-1] != 10:
            return
        i = len(line) - 1
        while i > 0 and line[i - 1] != 10:
            i -= 1
        j = i
        while j < len(line) and line[j] == 32:
            j += 1
        if i > 0 and j + 1 == len(line):  # the previous line is all spaces, and not the first
            k = i - 1
            while k > 0:
                if line[k - 1] == 10:
                    return  # and so is the one before it
                if line[k - 1] != 32:
                    break
                k -= 1
        n = (j - i) // 4 + (1 if line[-2] == 58 else 0)  # :
        if n:
            line.extend(b"    " * n)
            _w(b"    " * n)
            self.just_added = True

    def friendly_char(self, c):
        if self.paste:
            if c == CTRL_C:
                _w(b"\r\n")
            elif c == CTRL_D:
                _w(b"\r\n")
                line, self.line = self.line, bytearray()
                ret = execute(line, "exec", self.env, False)
                if ret:
                    return ret
            else:
                self.line.append(c)
                _w(b"\r\n=== " if c == 13 else bytes((c,)))
                return 0
            self.restart()
            return 0
        ret = self.readline_char(c)
        if not self.cont:
            if ret == CTRL_A:
                self.raw = True
                _w(b"\r\n")
                self.line = bytearray()
                return self.raw_char(CTRL_A)
            if ret == CTRL_B:
                _w(b"\r\n")
                banner()
                self.restart()
                return 0
            if ret == CTRL_C:
                _w(b"\r\n")
                self.restart()
                return 0
            if ret == CTRL_D:
                _w(b"\r\n")
                return 1
            if ret == CTRL_E:
                _w(b"\r\npaste mode; Ctrl-C to cancel, Ctrl-D to finish\r\n=== ")
                self.line = bytearray()
                self.paste = True
                return 0
            if ret < 0:
                return 0
            if not self.line:
                self.restart()
                return 0
        else:
            if ret == CTRL_C:
                _w(b"\r\n")
                self.restart()
                return 0
            if ret < 0:
                return 0
        if ret != CTRL_D and more(self.line):
            self.line.append(10)
            self.cont = True
            self.newline()
            return 0
        line, self.line = self.line, bytearray()
        ret = execute(line, "single", self.env, False)
        line = None
        if ret:
            return ret
        self.restart()
        return 0

    def restart(self, prompt=True):
        self.line = bytearray()
        self.start = 0
        self.cont = self.paste = self.just_added = False
        self.indent = True
        if prompt and not self.raw:
            _w(b">>> ")

    def char(self, c):
        return self.raw_char(c) if self.raw else self.friendly_char(c)


def more(line):
    """mp_repl_continue_with_input: does the statement go on past this line?"""
    text = str(line, "utf-8")
    first = text.split(None, 1)
    starts_compound = text.startswith("@") or (bool(first) and first[0].rstrip(":") in COMPOUND)
    depth, quote, i = 0, None, 0
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 1
            elif text.startswith(quote, i):
                i += len(quote) - 1
                quote = None
        elif ch in "\"'":
            quote = text[i:i + 3] if text[i:i + 3] in ('"""', "'''") else ch
            i += len(quote) - 1
        elif ch == "#":
            while i < len(text) and text[i] != "\n":
                i += 1
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        i += 1
    if quote in ('"""', "'''"):
        return True
    if depth > 0 and quote is None:
        return True
    if text.endswith("\\"):
        return True
    return starts_compound and not text.endswith("\n")


def banner():
    # "MicroPython v1.27.0 on 2025-12-09; ESP32 module with ESP32" on a board
    _w(b"%s; %s\r\nType \"help()\" for more information.\r\n"
       % (sys.version.split("; ", 1)[-1].encode(), sys.implementation._machine.encode()))


class _Micropython:
    """`micropython` for the code the REPL runs: kbd_intr() tells the host, which turns the
    console's interrupt byte into a SIGINT (the port's own kbd_intr(-1) would restore SIGINT's
    default action, and a Ctrl-C would kill the process)."""

    def __getattr__(self, name):
        return getattr(_micropython, name)

    def kbd_intr(self, c):
        c = int(c)
        _host._frame(75, 0, c + 1 if 0 <= c <= 255 else 0)  # K


def repl(env, raw):
    """The REPL until it soft-resets (then the host hears "Z", and "Q" with stdin's rest)."""
    global _micropython
    import micropython

    micropython.kbd_intr(3)  # its SIGINT handler, whatever boot.py or main.py set
    _micropython = micropython
    sys.modules["micropython"] = _Micropython()
    del micropython
    r = Repl(env, raw)
    if raw:
        _w(b"raw REPL; CTRL-B to exit\r\n>")
    else:
        _w(b"\r\n")
        banner()
        _w(b">>> ")
    while True:
        try:
            ret = r.char(_getch())
        except KeyboardInterrupt:  # a stray Ctrl-C outside the code: as at the prompt
            continue
        except Exception as e:  # a fault of this REPL: say so, and keep the console
            _w(b"\r\n" + _traceback(e))
            r.restart()
            continue
        if ret:
            break
    _host._frame(90, 0, 1 if r.raw else 0)  # Z
    rest = _rx.read()  # to the end: the host closes stdin when it sees "Z"
    _host._frame(81, len(rest), 0)  # Q
    _host._out.write(rest)
