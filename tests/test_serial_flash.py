"""`mpboot flash`: the esptool command it runs, and the real esptool accepting it.

Here the command runs against a pty with nobody answering: esptool parses every argument (the
image file included) before it connects, so getting as far as sending its SYNC frames and failing
"to connect" shows the command is one it accepts. On a pty (the emulated board's console) the
command gains the options a port without modem lines needs. Writing to the emulated board's ROM
loader end to end: tests/test_esptool_emulated.py."""

import json
import os
import subprocess
import sys
import tty

import pytest

import clihelp
from mpboot import cli
from emuboard import new_flash


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    d = tmp_path_factory.mktemp("flash")
    new_flash({"/main.py": "print(1)\n"}, path=d / "esp32.bin").close()
    new_flash({"/main.py": "print(1)\n"}, board="esp32s3-8mb", path=d / "esp32s3.bin").close()
    (d / "junk.bin").write_bytes(b"\xff" * 4096)
    return d


def test_dry_run_prints_the_esptool_command(images, capsys):
    r = clihelp.run(capsys, "flash", "--port", "/dev/ttyUSB0", images / "esp32.bin", "--dry-run")
    assert r.code == 0 and r.out == "esptool --chip esp32 -p /dev/ttyUSB0 -b 460800 write-flash 0x0 %s\n" % (
        images / "esp32.bin")
    r = clihelp.run(capsys, "flash", "--port", "COM3", images / "esp32s3.bin", "--baud", "921600", "--dry-run",
                    "--json")
    assert json.loads(r.out) == ["esptool", "--chip", "esp32s3", "-p", "COM3", "-b", "921600", "write-flash", "0x0",
                                 str(images / "esp32s3.bin")]


def test_port_and_baud_as_esptool_takes_them(images, capsys, monkeypatch):
    # -p/-b as esptool spells them, $ESPTOOL_PORT without -p, and --quiet silences esptool too.
    r = clihelp.run(capsys, "flash", "-p", "/dev/ttyACM0", "-b", "115200", images / "esp32.bin", "--dry-run", "--json")
    assert json.loads(r.out)[3:7] == ["-p", "/dev/ttyACM0", "-b", "115200"]
    monkeypatch.setenv("ESPTOOL_PORT", "/dev/ttyUSB7")
    r = clihelp.run(capsys, "flash", images / "esp32.bin", "--dry-run", "--json", "--quiet")
    assert json.loads(r.out)[:8] == ["esptool", "--silent", "--chip", "esp32", "-p", "/dev/ttyUSB7", "-b", "460800"]
    clihelp.fails(capsys, "flash", images / "esp32.bin", "-b", "0", "--dry-run", match="--baud must be a positive")
    # --chip as esptool takes it: the image's board decides, so a different chip is refused.
    r = clihelp.run(capsys, "flash", "-p", "X", "--chip", "esp32s3", images / "esp32s3.bin", "--dry-run", "--json")
    assert json.loads(r.out)[1:3] == ["--chip", "esp32s3"]
    clihelp.fails(capsys, "flash", "-p", "X", "--chip", "esp32c3", images / "esp32.bin", "--dry-run",
                  match="--chip esp32c3, but")


def test_a_pty_gets_no_reset_no_stub_and_compression(images, capsys):
    master, slave = os.openpty()
    try:
        port = os.ttyname(slave)
        r = clihelp.run(capsys, "flash", "--port", port, images / "esp32.bin", "--dry-run", "--json")
    finally:
        os.close(master)
        os.close(slave)
    assert json.loads(r.out) == ["esptool", "--chip", "esp32", "-p", port, "-b", "460800", "--before", "no-reset",
                                 "--after", "soft-reset", "--no-stub", "write-flash", "--compress", "0x0",
                                 str(images / "esp32.bin")]


def test_images_that_are_not_for_the_board_are_refused(images, capsys):
    clihelp.fails(capsys, "flash", "--port", "X", images / "junk.bin", "--dry-run", match="matches no board")
    clihelp.fails(capsys, "flash", "--port", "X", images / "esp32.bin", "--board", "esp32s3-8mb", "--dry-run",
                  match="has 8388608 bytes of flash")
    clihelp.fails(capsys, "flash", "--port", "X", images / "esp32.bin", "--board", "esp32c3-4mb", "--dry-run",
                  match="does not hold board esp32c3-4mb's partition table")
    clihelp.fails(capsys, "flash", "--port", "X", images / "missing.bin", match="not found")


def run_esptool(argv, timeout=60):
    """Run esptool with `argv` (its arguments, from the dry run) on a pty nobody answers; returns
    (exit status, its output, the bytes it sent to the 'chip')."""
    master, slave = os.openpty()
    tty.setraw(slave)
    port = os.ttyname(slave)
    try:
        argv = [port if a == "PORT" else a for a in argv]
        r = subprocess.run([sys.executable, "-m", "esptool"] + argv, capture_output=True, text=True, timeout=timeout)
        os.set_blocking(master, False)
        try:
            sent = os.read(master, 1 << 16)
        except BlockingIOError:
            sent = b""
    finally:
        os.close(master)
        os.close(slave)
    return r.returncode, r.stdout + r.stderr, sent


def test_esptool_accepts_the_command_and_fails_only_at_connecting(images, capsys):
    r = clihelp.run(capsys, "flash", "--port", "PORT", images / "esp32.bin", "--connect-attempts", "1",
                    "--dry-run", "--json")
    argv = json.loads(r.out)[1:]
    code, out, sent = run_esptool(argv)
    assert code != 0 and "Failed to connect to ESP32: No serial data received" in out, out
    assert "Invalid value" not in out and "Usage" not in out, out
    # SLIP frames of the ROM loader's SYNC command (direction 0x00, command 0x08).
    assert sent.startswith(b"\xc0\x00\x08"), sent[:16]
    # The same arguments with a mistake: esptool stops at parsing, before any connection.
    code, out, sent = run_esptool(argv[:-1] + [str(images / "missing.bin")])
    assert code != 0 and "Invalid value" in out and "No such file" in out and sent == b"", out


def test_flash_runs_esptool_and_reports_its_failure(images, capfd):
    master, slave = os.openpty()
    try:
        code = cli.main(["flash", "--port", os.ttyname(slave), str(images / "esp32.bin"), "--connect-attempts", "1"])
    finally:
        os.close(master)
        os.close(slave)
    out, err = capfd.readouterr()  # esptool's own output too: it writes to the terminal
    assert code == 1 and "Failed to connect to ESP32" in out + err
    assert err.splitlines()[-1].startswith("mpboot: error: esptool failed (exit 2, its message is above)")
    assert "(mpboot emulate FLASH.bin --serial --download)" in err.splitlines()[-1]
