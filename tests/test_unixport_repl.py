"""The unix port runtime's REPL and stdin interface (mpy/unixport.py, unixlib/_repl.py) driven
directly, as emulator/console.py drives it: the steps, a soft reset's unread bytes, host calls
and halts at the REPL, Ctrl-C while code runs, and run(stdin=...)."""

import time

import pytest

from mpboot.mpy.runtime import HALT
from mpboot.mpy.unixport import UnixMicroPython


@pytest.fixture
def mp():
    runtime = UnixMicroPython(heap=256 * 1024)
    runtime.boot()
    yield runtime
    runtime.close()


def typed(mp, data, **kw):
    out = bytearray()
    result = mp.repl_input(data, output=out.extend, timeout=10, **kw)
    return result, bytes(out)


def test_steps_end_when_the_input_is_read_and_a_soft_reset_returns_the_rest(mp):
    out = bytearray()
    mp.run("x = 6\nimport sys\nsys.stdout.write('no newline')").check()
    result = mp.repl_init(raw=True, output=out.extend, timeout=10)
    # what main.py left unterminated goes out first, then the raw REPL's greeting
    assert result.ok and not result.exit and bytes(out) == b"no newlineraw REPL; CTRL-B to exit\r\n>"
    result, out = typed(mp, b"print(x * 7)\x04")
    assert result.ok and not result.exit and out == b"OK42\n\x04\x04>"  # the run's globals
    result, out = typed(mp, b"\x04print(1)\x04\x02")
    assert result.ok and result.exit == 1 and result.raw is True
    assert out == b"OK\r\n" and result.rest == b"print(1)\x04\x02"


def test_friendly_soft_reset_by_sys_exit_and_the_mode_it_was_in(mp):
    out = bytearray()
    mp.repl_init(raw=False, output=out.extend, timeout=10)
    assert out.startswith(b"\r\nMicroPython ") and out.endswith(b">>> ")
    result, out = typed(mp, b"import sys\rsys.exit()\rleft")
    assert result.exit == 1 and result.raw is False and result.rest == b"left"
    assert out == b"import sys\r\n>>> sys.exit()\r\n"


def test_host_calls_at_the_repl_and_a_halt(mp):
    calls = []

    def handler(op, arg, body, n):
        calls.append((op, arg, bytes(body)))
        return HALT if op == "reset" else (len(body), b"")

    mp.repl_init(raw=True, output=lambda b: None, handler=handler, timeout=10)
    result, out = typed(mp, b"import _host, uctypes\nb = b'abc'\n"
                            b"print(_host.call('len', 'x', uctypes.addressof(b), 3, True))\x04", handler=handler)
    assert out == b"OK3\n\x04\x04>" and calls == [("len", "x", b"abc")]
    result, out = typed(mp, b"_host.call('reset', None, 0, 0, False)\nprint('not reached')\x04", handler=handler)
    assert result.halted and result.halt_reason == "halt" and not result.ok and out == b"OK"


def test_keys_while_code_runs_go_to_its_stdin_and_ctrl_c_interrupts_it(mp):
    mp.repl_init(raw=True, output=lambda b: None, timeout=10)
    keys = [b"", b"a", b"b", b"", b"\x03"]  # what the client types while the code runs

    def stdin(seconds):
        time.sleep(seconds)
        return keys.pop(0) if keys else b""

    result, out = typed(mp, b"import sys\nx = sys.stdin.read(2)\nwhile True:\n  pass\n\x04", stdin=stdin)
    assert result.ok and not result.exit and not keys
    assert out.startswith(b"OK\x04Traceback (most recent call last):\r\n") and out.endswith(b"KeyboardInterrupt: \r\n\x04>")
    result, out = typed(mp, b"print(x)\x04")
    assert out == b"OKab\n\x04\x04>"


def test_the_console_stopping_while_code_runs_stops_the_process(mp):
    mp.repl_init(raw=True, output=lambda b: None, timeout=10)
    start = time.monotonic()
    result, out = typed(mp, b"while True:\n  pass\n\x04", stdin=lambda seconds: None)
    assert result.ok and out == b"OK" and time.monotonic() - start < 5
    assert mp.root is None  # the process is gone; the next boot starts another


def test_run_reads_stdin_as_it_comes_then_end_of_input(mp):
    chunks = [b"ab", b"", b"cd", None]
    result = mp.run("import sys\nprint(sys.stdin.buffer.read())", stdin=lambda seconds: chunks.pop(0), timeout=10)
    assert result.check() == "b'abcd'" and chunks == []


def test_the_repl_starts_from_its_source_without_mpy_cross(mp, monkeypatch):
    from mpboot.errors import MpbootError
    from mpboot.mpy import unixport

    def missing(*args):
        raise MpbootError("mpy-cross is not installed")

    monkeypatch.setattr(unixport.mpycross, "compile_source", missing)
    out = bytearray()
    result = mp.repl_init(raw=True, output=out.extend, timeout=10)
    assert result.ok and bytes(out) == b"raw REPL; CTRL-B to exit\r\n>"
    result, out = typed(mp, b"import os\nprint(6 * 7, '.mpboot-repl' in os.listdir('/'))\x04")
    assert out == b"OK42 False\n\x04\x04>"  # and the file it came from is gone


def test_ctrl_c_in_a_loop_of_host_calls_keeps_the_frames_in_step(mp):
    # Interrupts at random moments of a tight loop of host calls (5000 bytes each way), most of
    # them while a call's question or answer crosses: each time the loop stops with a
    # KeyboardInterrupt and the next command runs with the call's buffer intact.
    import random

    rng = random.Random(7)

    def handler(op, arg, body, n):
        return len(body), b"x" * n

    mp.repl_init(raw=True, output=lambda b: None, handler=handler, timeout=10)
    for _ in range(30):
        keys = [b""] * rng.randint(0, 6) + [b"\x03"]

        def stdin(seconds):
            time.sleep(rng.random() * 0.01)
            return keys.pop(0) if keys else b""

        result, out = typed(mp, b"import _host, uctypes\nb = bytearray(5000)\nwhile True:\n"
                                b"  _host.call('op', 'arg', uctypes.addressof(b), 5000, True)\n\x04",
                            handler=handler, stdin=stdin)
        assert result.ok and out.endswith(b"KeyboardInterrupt: \r\n\x04>"), out
        result, out = typed(mp, b"print(b[0], b[-1], len(b))\x04", handler=handler)
        assert out == b"OK120 120 5000\n\x04\x04>"
