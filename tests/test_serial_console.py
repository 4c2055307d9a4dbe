"""The emulated board's serial console, driven by the real mpremote (pinned in requirements.lock)
over a pseudo-terminal, as on a board's USB serial port; and the console transcript read
byte by byte with pyserial. On both runtimes: the unix port (its REPL is unixlib/_repl.py) and
the WebAssembly port (its own event-driven REPL)."""

import os
import subprocess
import sys
import threading
import time
from contextlib import contextmanager

import pytest
import serial

import clihelp
from emuboard import new_flash
from mpboot import boards
from mpboot.emulator import vfs
from mpboot.emulator.board import Board
from mpboot.emulator.console import Pty, SerialConsole
from serialboard import SerialBoard

# Every boot appends to /bootlog.txt what ran: "boot <reset cause>" from boot.py, "main" from main.py.
BOOT_PY = "import machine\nf = open('/bootlog.txt', 'a')\nf.write('boot %d\\n' % machine.reset_cause())\nf.close()\n"
MAIN_PY = "print('MAIN ran')\nf = open('/bootlog.txt', 'a')\nf.write('main\\n')\nf.close()\n"
BOARD = boards.load_board("esp32-4mb")
RUNTIMES = pytest.mark.parametrize("runtime", ["unix", "wasm"])


def make_flash(tmp_path):
    path = tmp_path / "flash.bin"
    new_flash(files={"/boot.py": BOOT_PY, "/main.py": MAIN_PY}, path=path).close()
    return path


def vfs_files(flash_path):
    """The files in the flash image's LittleFS partition, read without the emulator's console."""
    part = BOARD.partition(boards.VFS_PARTITION)
    with open(flash_path, "rb") as f:
        f.seek(part.offset)
        return vfs.read_files(vfs.mount(bytearray(f.read(part.size))))[1]


@RUNTIMES
def test_exec_eval_run_and_fs_commands(tmp_path, runtime):
    data = os.urandom(5000)
    (tmp_path / "data.bin").write_bytes(data)
    (tmp_path / "script.py").write_text("import machine\nprint('uid', machine.unique_id().hex())\n")
    with SerialBoard(make_flash(tmp_path), tmp_path, runtime=runtime) as board:
        assert board.mpremote("exec", "print(1+1)").stdout == "2\n"
        # Longer than raw paste's 128-byte window: the unix port's REPL asks for more as it reads.
        assert board.mpremote("exec", "s = %r\nprint(len(s), s[-3:])" % ("x" * 2999 + "yz")).stdout == "3001 xyz\n"
        assert board.mpremote("eval", "6*7").stdout.strip() == "42"
        assert board.mpremote("run", tmp_path / "script.py").stdout.strip() == "uid 240ac4000001"
        board.mpremote("fs", "cp", tmp_path / "data.bin", ":data.bin", "+", "fs", "mkdir", ":d", "+",
                       "fs", "cp", tmp_path / "script.py", ":d/s.py")
        listing = board.mpremote("fs", "ls").stdout.split("\n")
        assert "        5000 data.bin" in listing and "           0 d/" in listing, listing
        assert board.mpremote("fs", "cat", ":d/s.py").stdout == (tmp_path / "script.py").read_text()
        board.mpremote("fs", "cp", ":data.bin", tmp_path / "back.bin")
        assert (tmp_path / "back.bin").read_bytes() == data
        board.mpremote("fs", "rm", "-r", ":d")
        assert "d/" not in board.mpremote("fs", "ls").stdout
        missing = board.mpremote("fs", "cat", ":nothere", check=False)
        # The board's errno (ENOENT 2), not the WebAssembly port's (44): mpremote names it.
        assert missing.returncode == 1 and "No such file or directory" in missing.stderr, missing.stderr
        failing = board.mpremote("exec", "raise ValueError('boom')", check=False)
        assert failing.returncode == 1 and "ValueError: boom" in failing.stdout  # mpremote prints it so


@RUNTIMES
def test_mount_serves_modules_and_binary_files(tmp_path, runtime):
    # mpremote mount: its protocol runs over sys.stdin with Ctrl-C off (micropython.kbd_intr(-1)),
    # so the file's \x03 bytes are data, not interrupts.
    local = tmp_path / "local"
    local.mkdir()
    (local / "mymod.py").write_text("X = 41\n")
    (local / "blob.bin").write_bytes(bytes(range(256)) * 8)
    code = ("import mymod\nd = open('/remote/blob.bin', 'rb').read()\n"
            "print(mymod.X + 1, len(d), d.count(b'\\x03'), d == bytes(range(256)) * 8)")
    with SerialBoard(make_flash(tmp_path), tmp_path, runtime=runtime) as board:
        r = board.mpremote("mount", local, "exec", code)
    assert r.stdout.splitlines()[-1] == "42 2048 8 True", r.stdout


@RUNTIMES
def test_files_written_persist_through_reset_and_in_the_flash_image(tmp_path, runtime):
    data = os.urandom(3000)
    (tmp_path / "keep.bin").write_bytes(data)
    flash = make_flash(tmp_path)
    with SerialBoard(flash, tmp_path, runtime=runtime) as board:
        board.mpremote("fs", "cp", tmp_path / "keep.bin", ":keep.bin")
        board.reset()  # machine.reset(): a new boot through the bootloader
        board.mpremote("fs", "cp", ":keep.bin", tmp_path / "after-reset.bin")
        code, out = board.stop()
    assert code == 0 and "stopped after" in out, out
    assert (tmp_path / "after-reset.bin").read_bytes() == data
    assert vfs_files(flash)["/keep.bin"] == data
    with SerialBoard(flash, tmp_path, runtime=runtime) as board:  # a new emulator process, the same flash
        board.mpremote("fs", "cp", ":keep.bin", tmp_path / "after-restart.bin")
    assert (tmp_path / "after-restart.bin").read_bytes() == data


@RUNTIMES
def test_soft_reset_runs_boot_py_and_machine_reset_boots_through_the_bootloader(tmp_path, runtime):
    flash = make_flash(tmp_path)
    with SerialBoard(flash, tmp_path, runtime=runtime) as board:
        board.mpremote("exec", "pass")  # mpremote soft-resets in raw mode first: boot.py, no main.py
        board.mpremote("soft-reset")
        board.reset()  # soft reset, then machine.reset(): hard boot, cause SOFT_RESET
        log = board.mpremote("fs", "cat", ":bootlog.txt").stdout.splitlines()
    assert log == ["boot 1", "main",  # power on: boot.py and main.py
                     "boot 1", "boot 1", "boot 1",  # three soft resets in raw mode: reset cause kept
                     "boot 5", "main",  # machine.reset(): SOFT_RESET, friendly REPL again, main.py runs
                     "boot 5"], log  # the soft reset of the last command


def read_until(port, ending, limit=20000):
    data = b""
    while not data.endswith(ending):
        c = port.read(1)
        assert c, "timed out waiting for %r after %r" % (ending, data[-300:])
        data += c
        assert len(data) < limit
    return data


@contextmanager
def console_on(tmp_path, runtime, seconds=120):
    """A board's console served in this process, and pyserial on its pty (opened first:
    opening flushes input); yields (port, board)."""
    flash = make_flash(tmp_path)
    with Pty() as pty, Board(str(flash), BOARD, runtime=runtime, run_timeout=10) as board:
        console = SerialConsole(board, pty)
        thread = threading.Thread(target=console.serve, kwargs=dict(seconds=seconds), daemon=True)
        try:
            with serial.Serial(pty.path, timeout=20) as port:
                thread.start()
                yield port, board
        finally:
            console.stop.set()
            thread.join(30)
    assert not thread.is_alive()


def raw_paste(port, runtime, code):
    """mpremote's raw-paste request and what follows: the unix port's REPL has raw-paste mode
    (a 128-byte window, then the code's output), the WebAssembly port's console refuses it and
    the code goes as in the plain raw REPL. Returns what came back up to the next prompt."""
    port.write(b"\x05A\x01")
    if runtime == "wasm":  # understood, not supported
        assert port.read(2) == b"R\x00"
        port.write(code + b"\x04")
        return read_until(port, b">")
    assert port.read(5) == b"R\x01\x80\x00\x01"  # supported; window 128 (LE), one window free
    port.write(code + b"\x04")
    return read_until(port, b">")


@RUNTIMES
def test_console_transcript_raw_paste_soft_and_hard_reset(tmp_path, runtime):
    with console_on(tmp_path, runtime) as (port, board):
        first = read_until(port, b">>> ")
        assert b"=== boot 0 (hard, reset cause PWRON_RESET) ===\r\n" in first
        assert b"boot: booting ota_0 (offset 0x10000)" in first and b"MAIN ran\r\n" in first
        port.write(b"\r\x01")
        read_until(port, b"raw REPL; CTRL-B to exit\r\n>")
        ok = b"OK" if runtime == "wasm" else b"\x04"  # raw paste acknowledges the end with \x04
        assert raw_paste(port, runtime, b"print(3)") == ok + b"3\n\x04\x04>"
        # Ctrl-D on an empty raw REPL line: soft reset, still in raw mode; what was typed
        # after it waits for the new REPL.
        port.write(b"\x04print(7)\x04")
        after = read_until(port, b"\x04\x04>")
        assert after == b"OK\r\nMPY: soft reboot\r\nraw REPL; CTRL-B to exit\r\n>OK7\n\x04\x04>", after
        port.write(b"\x05")  # a raw-paste request split across reads
        time.sleep(0.3)
        port.write(b"A\x01")
        assert port.read(2) == (b"R\x00" if runtime == "wasm" else b"R\x01")
        if runtime == "unix":
            assert port.read(3) == b"\x80\x00\x01"
        port.write(b"import machine\nmachine.reset()\x04")
        reset = read_until(port, b">>> ")
        assert reset.startswith(ok) and b"=== boot 2 (hard, reset cause SOFT_RESET) ===\r\n" in reset
        assert b"boot: booting ota_0" in reset and b"MAIN ran\r\n" in reset
    assert [(r.kind, r.outcome) for r in board.records] == [("hard", "soft_reboot"), ("soft", "reset"), ("hard", "ok")]


# Keys typed at the friendly REPL: expressions, a compound statement with readline's auto-indent
# (Enter on the indented blank lines), a space after an auto-indent, backspaces, Ctrl-C on a line,
# paste mode, a traceback, Ctrl-A/Ctrl-B and the raw REPL's greeting, the friendly banner last.
KEYS = [b"6*7\r", b"for i in 'ab':\r", b"print(i)\r", b"\r", b"\r", b"\r", b"if 1:\r", b" y = 2\r", b"\r", b"\r",
        b"y\r", b"abcd\x08\x08\x08", b"\x03", b"x = [1,\r", b"2]\r", b"x\r", b"\x05", b"a = 1\rprint(a + 1)\r", b"\x04",
        b"1/0\r", b"\x01", b"\x02"]
BANNER_END = b'Type "help()" for more information.\r\n>>> '


def transcript(tmp_path, runtime):
    """What the REPL answers to KEYS, typed all at once (it reads them in order, as a UART's
    buffer): the part before the last banner, and that banner."""
    tmp_path.mkdir()
    with console_on(tmp_path, runtime) as (port, board):
        read_until(port, b">>> ")
        port.write(b"".join(KEYS))
        out = read_until(port, BANNER_END)
    assert [r.outcome for r in board.records] == ["ok"]
    cut = out.rindex(b"\r\nMicroPython ")
    return out[:cut], out[cut:]


def test_friendly_repl_is_the_boards_on_both_runtimes(tmp_path):
    # The unix port's REPL (unixlib/_repl.py) answers the keys byte for byte as MicroPython's
    # own (pyexec.c, readline.c: the WebAssembly port's), apart from the banner's text.
    unix, unix_banner = transcript(tmp_path / "unix", "unix")
    wasm, wasm_banner = transcript(tmp_path / "wasm", "wasm")
    assert unix == wasm
    assert unix.startswith(b"6*7\r\n42\n>>> for i in 'ab':\r\n...     print(i)\r\n...     ") and b"a\nb\n>>> " in unix
    assert b"ZeroDivisionError: divide by zero\r\n>>> \r\nraw REPL; CTRL-B to exit\r\n>" in unix
    assert unix_banner != wasm_banner and b"MicroPython v1.27.0" in wasm_banner


@RUNTIMES
def test_stdin_and_errors_at_the_raw_repl(tmp_path, runtime):
    with console_on(tmp_path, runtime) as (port, board):
        read_until(port, b">>> ")
        # sys.stdin reads the console's bytes that follow the command, typed while it runs
        port.write(b"\x01")
        read_until(port, b"raw REPL; CTRL-B to exit\r\n>")
        port.write(b"import sys\nprint(repr(sys.stdin.read(3)))\x04")
        assert port.read(2) == b"OK"
        time.sleep(0.2)
        port.write(b"xyz")
        assert read_until(port, b">") == b"'xyz'\n\x04\x04>"
        port.write(b"1+\x04")
        # a syntax error: the traceback after the first \x04, its lines ended as pyexec prints them
        assert read_until(port, b"\x04>") == (b'OK\x04Traceback (most recent call last):\r\n  File "<stdin>", line 1\r\n'
                                              b"SyntaxError: invalid syntax\r\n\x04>")
    assert [r.outcome for r in board.records] == ["ok"]


def test_ctrl_c_interrupts_code_on_the_unix_port(tmp_path):
    # A board's Ctrl-C: KeyboardInterrupt in the running code (a SIGINT to the unix port), in the
    # friendly and the raw REPL, at a host call (time.sleep_ms waits in the port) or in a loop.
    with console_on(tmp_path, "unix") as (port, board):
        read_until(port, b">>> ")
        port.write(b"while True:\r  pass\r\r")
        read_until(port, b"... \r\n")
        time.sleep(0.5)
        port.write(b"\x03")
        out = read_until(port, b">>> ")
        assert out.endswith(b"KeyboardInterrupt: \r\n>>> ") and b'File "<stdin>"' in out, out
        port.write(b"x = 5\r")
        read_until(port, b">>> ")
        port.write(b"\x01")
        read_until(port, b"raw REPL; CTRL-B to exit\r\n>")
        port.write(b"import time, esp32\nn = 0\nwhile True:\n    time.sleep_ms(5)\n"
                   b"    esp32.Partition.find(esp32.Partition.TYPE_DATA)\n    n += 1\n\x04")
        assert port.read(2) == b"OK"
        time.sleep(1.0)
        port.write(b"\x03")
        out = read_until(port, b"\x04>")
        assert out.startswith(b"\x04Traceback (most recent call last):\r\n"), out
        assert out.endswith(b"KeyboardInterrupt: \r\n\x04>"), out
        port.write(b"print(x, n > 10)\x04")  # the session goes on: globals kept, the loop ran
        assert read_until(port, b">") == b"OK5 True\n\x04\x04>"
        port.write(b"\x03\x03print(1)\x04")  # at the prompt Ctrl-C only clears the line
        assert read_until(port, b">") == b"OK1\n\x04\x04>"
    assert [r.outcome for r in board.records] == ["ok"]


def test_mpremote_interrupts_a_hung_command_on_the_unix_port(tmp_path):
    # mpremote's first move is Ctrl-C: a command left running by an earlier mpremote stops,
    # as on a board, instead of the board power-cycling after its timeout.
    with SerialBoard(make_flash(tmp_path), tmp_path, runtime="unix", timeout=120) as board:
        hung = subprocess.Popen([sys.executable, "-m", "mpremote", "connect", board.port, "exec", "while True: pass"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(3)
        assert hung.poll() is None  # still following the loop's output
        hung.kill()
        hung.communicate()
        start = time.monotonic()
        assert board.mpremote("exec", "print('after')").stdout == "after\n"
        assert time.monotonic() - start < 30
        code, out = board.stop()
    assert code == 0 and "outcome: hang" not in out, out


def test_serial_options_are_checked(tmp_path, capsys):
    flash = make_flash(tmp_path)
    clihelp.fails(capsys, "emulate", flash, "--serial-link", tmp_path / "tty", match="go with --serial")
    clihelp.fails(capsys, "emulate", flash, "--serial", "--boots", "2", match="runs until interrupted")
    (tmp_path / "taken").write_bytes(b"keep")
    clihelp.fails(capsys, "emulate", flash, "--serial", "--serial-link", tmp_path / "taken", "--stop-after", "1",
                  match="exists and is not a symlink")
    assert (tmp_path / "taken").read_bytes() == b"keep"
    clihelp.fails(capsys, "emulate", flash, "--serial", "--serial-link", tmp_path / "no" / "tty", "--stop-after", "1",
                  match="cannot make the link")
