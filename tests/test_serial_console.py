"""The emulated board's serial console, driven by the real mpremote (pinned in requirements.lock)
over a pseudo-terminal, as on a board's USB serial port; and the console transcript read
byte by byte with pyserial."""

import os
import threading
import time

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


def test_exec_eval_run_and_fs_commands(tmp_path):
    data = os.urandom(5000)
    (tmp_path / "data.bin").write_bytes(data)
    (tmp_path / "script.py").write_text("import machine\nprint('uid', machine.unique_id().hex())\n")
    with SerialBoard(make_flash(tmp_path), tmp_path) as board:
        assert board.mpremote("exec", "print(1+1)").stdout == "2\n"
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


def test_files_written_persist_through_reset_and_in_the_flash_image(tmp_path):
    data = os.urandom(3000)
    (tmp_path / "keep.bin").write_bytes(data)
    flash = make_flash(tmp_path)
    with SerialBoard(flash, tmp_path) as board:
        board.mpremote("fs", "cp", tmp_path / "keep.bin", ":keep.bin")
        board.mpremote("reset")  # machine.reset(): a new boot through the bootloader
        board.mpremote("fs", "cp", ":keep.bin", tmp_path / "after-reset.bin")
        code, out = board.stop()
    assert code == 0 and "stopped after" in out, out
    assert (tmp_path / "after-reset.bin").read_bytes() == data
    assert vfs_files(flash)["/keep.bin"] == data
    with SerialBoard(flash, tmp_path) as board:  # a new emulator process, the same flash
        board.mpremote("fs", "cp", ":keep.bin", tmp_path / "after-restart.bin")
    assert (tmp_path / "after-restart.bin").read_bytes() == data


def test_soft_reset_runs_boot_py_and_machine_reset_boots_through_the_bootloader(tmp_path):
    flash = make_flash(tmp_path)
    with SerialBoard(flash, tmp_path) as board:
        board.mpremote("exec", "pass")  # mpremote soft-resets in raw mode first: boot.py, no main.py
        board.mpremote("soft-reset")
        board.mpremote("reset")  # soft reset, then machine.reset(): hard boot, cause SOFT_RESET
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


def test_console_transcript_raw_paste_refused_soft_and_hard_reset(tmp_path):
    flash = make_flash(tmp_path)
    with Pty() as pty, Board(str(flash), BOARD, run_timeout=10) as board:
        console = SerialConsole(board, pty)
        thread = threading.Thread(target=console.serve, kwargs=dict(seconds=120), daemon=True)
        try:
            with serial.Serial(pty.path, timeout=20) as port:  # opened first: opening flushes input
                thread.start()
                first = read_until(port, b">>> ")
                assert b"=== boot 0 (hard, reset cause PWRON_RESET) ===\r\n" in first
                assert b"boot: booting ota_0 (offset 0x10000)" in first and b"MAIN ran\r\n" in first
                port.write(b"\r\x01")
                read_until(port, b"raw REPL; CTRL-B to exit\r\n>")
                port.write(b"\x05A\x01")  # mpremote asks for raw-paste mode: understood, not supported
                assert port.read(2) == b"R\x00"
                port.write(b"print(3)\x04")
                assert read_until(port, b">") == b"OK3\n\x04\x04>"
                # Ctrl-D on an empty raw REPL line: soft reset, still in raw mode; what was typed
                # after it waits for the new REPL.
                port.write(b"\x04print(7)\x04")
                after = read_until(port, b"\x04\x04>")
                assert after == b"OK\r\nMPY: soft reboot\r\nraw REPL; CTRL-B to exit\r\n>OK7\n\x04\x04>", after
                port.write(b"\x05")  # a raw-paste request split across reads
                time.sleep(0.3)
                port.write(b"A\x01")
                assert port.read(2) == b"R\x00"
                port.write(b"import machine\nmachine.reset()\x04")
                reset = read_until(port, b">>> ")
                assert reset.startswith(b"OK") and b"=== boot 2 (hard, reset cause SOFT_RESET) ===\r\n" in reset
                assert b"boot: booting ota_0" in reset and b"MAIN ran\r\n" in reset
        finally:
            console.stop.set()
            thread.join(30)
    assert not thread.is_alive()
    assert [(r.kind, r.outcome) for r in board.records] == [("hard", "soft_reboot"), ("soft", "reset"), ("hard", "ok")]


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
