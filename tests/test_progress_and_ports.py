"""esptool's habits on the commands that talk to boards: -p/--port, -b/--baud, $ESPTOOL_PORT,
the one board on USB found by itself; a progress bar on stderr only for a terminal (not with
--quiet or --json, never on stdout); and `install --port` riding out the re-enumeration of a
board with native USB after its reset."""

import json
import os
import pty
import subprocess
import sys
import threading

import pytest
from serial.tools.list_ports_common import ListPortInfo

import bootstage
import clihelp
from emuboard import new_flash
from mpboot import serialports
from reenumerating import ReenumeratingPort
from serialboard import SerialBoard

BAR = "━"  # rich's bar
CP2102, CH340, ESPRESSIF, ONBOARD = (0x10C4, 0xEA60), (0x1A86, 0x7523), (0x303A, 0x1001), None


def port(device, usb):
    info = ListPortInfo(device, skip_link_detection=True)
    if usb:
        info.vid, info.pid = usb
    return info


@pytest.fixture
def comports(monkeypatch):
    """Set what pyserial's list_ports sees: comports([...ListPortInfo])."""
    monkeypatch.delenv(serialports.ENV, raising=False)
    seen = []
    monkeypatch.setattr(serialports.list_ports, "comports", lambda *a, **k: list(seen))
    return lambda ports: seen.__setitem__(slice(None), ports)


def test_the_one_board_on_usb_is_found(comports):
    comports([port("/dev/ttyS0", ONBOARD), port("/dev/ttyUSB0", CP2102)])
    assert serialports.resolve(None) == "/dev/ttyUSB0"
    comports([port("/dev/ttyACM0", ESPRESSIF)])
    assert serialports.resolve(None) == "/dev/ttyACM0"
    assert serialports.resolve("/dev/ttyX") == "/dev/ttyX"  # -p wins


def test_no_board_or_several_is_an_error_naming_what_was_seen(comports):
    comports([port("/dev/ttyS0", ONBOARD)])
    with pytest.raises(serialports.MpbootError, match=r"no board found on USB \(serial ports here: /dev/ttyS0\)"):
        serialports.resolve(None)
    comports([])
    with pytest.raises(serialports.MpbootError, match=r"ESPTOOL_PORT is not set, and no board found on USB \(no serial"):
        serialports.resolve(None)
    comports([port("/dev/ttyUSB0", CP2102), port("/dev/ttyUSB1", CH340), port("/dev/ttyS0", ONBOARD)])
    with pytest.raises(serialports.MpbootError) as e:
        serialports.resolve(None)
    assert str(e.value) == ("several boards on USB: /dev/ttyUSB0 (CP210x), /dev/ttyUSB1 (CH340/CH9102): choose one "
                            "with --port (or ESPTOOL_PORT)")


def test_esptool_port_comes_before_detection(comports, monkeypatch):
    comports([port("/dev/ttyUSB0", CP2102)])
    monkeypatch.setenv("ESPTOOL_PORT", "/dev/ttyACM3")
    assert serialports.resolve(None) == "/dev/ttyACM3"
    assert serialports.resolve("/dev/ttyUSB9") == "/dev/ttyUSB9"


@pytest.mark.parametrize("command", [["provision"], ["install", "IMAGE"]])
def test_the_commands_take_the_port_as_esptool_does(comports, monkeypatch, tmp_path, capsys, command):
    (tmp_path / "IMAGE").write_bytes(b"image")
    argv = [str(tmp_path / a) if a == "IMAGE" else a for a in command]
    clihelp.fails(capsys, *argv, "-p", tmp_path / "short", "-b", "9600", match="cannot open %s" % (tmp_path / "short"))
    clihelp.fails(capsys, *argv, "-p", tmp_path / "short", "-b", "0", match="--baud must be a positive number")
    monkeypatch.setenv("ESPTOOL_PORT", str(tmp_path / "from-env"))
    clihelp.fails(capsys, *argv, match="cannot open %s" % (tmp_path / "from-env"))
    monkeypatch.delenv("ESPTOOL_PORT")
    comports([port(str(tmp_path / "ttyUSB0"), CP2102)])
    clihelp.fails(capsys, *argv, match="cannot open %s" % (tmp_path / "ttyUSB0"))
    comports([port("/dev/ttyUSB0", CP2102), port("/dev/ttyACM0", ESPRESSIF)])
    clihelp.fails(capsys, *argv, match="several boards on USB: /dev/ttyUSB0 (CP210x), /dev/ttyACM0 (Espressif")


def test_install_takes_the_emulated_board_or_a_port_not_both(tmp_path, capsys):
    clihelp.fails(capsys, "install", "--flash", tmp_path / "f.bin", "-p", tmp_path / "p", tmp_path / "i.mpb",
                  match="not both")


def run_on_terminal(argv, timeout=300):
    """Run `mpboot ARGV` with stderr on a pseudo-terminal and stdout on a pipe: (exit status,
    stdout, what the terminal showed)."""
    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "NO_COLOR", "TTY_COMPATIBLE")}
    # Wide enough for a step that names a long path (pytest's temporary directories under xdist):
    # rich cuts a line at the width, and a test looks for the whole text.
    env.update(TERM="xterm-256color", COLUMNS="400")
    proc = subprocess.Popen([sys.executable, "-m", "mpboot", *map(str, argv)], stdout=subprocess.PIPE,
                            stderr=slave, stdin=subprocess.DEVNULL, env=env)
    os.close(slave)
    shown = bytearray()

    def drain():
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the command closed the terminal
                return
            if not data:
                return
            shown.extend(data)

    reader = threading.Thread(target=drain)
    reader.start()
    try:
        out, _ = proc.communicate(timeout=timeout)
    finally:
        reader.join(10)
        os.close(master)
    return proc.returncode, out.decode(), shown.decode(errors="replace")


MAIN = "import machine\nprint('up')\nif machine.reset_cause() == machine.PWRON_RESET:\n    machine.reset()\n"


@pytest.mark.parametrize("options,bar", [([], True), (["--quiet"], False), (["--json"], False)])
def test_emulate_shows_a_bar_on_a_terminal_only(tmp_path, options, bar):
    flash = tmp_path / "flash.bin"
    new_flash({"/main.py": MAIN}, path=flash).close()
    code, out, shown = run_on_terminal(["emulate", flash, "--boots", "2", *options])
    assert code == 0, shown
    assert (BAR in shown and "2/2 boots" in shown) == bar, shown
    assert BAR not in out and "2/2 boots" not in out  # stdout is the boot log (or the JSON) alone
    if "--json" in options:
        assert len(json.loads(out)["boots"]) == 2
    else:
        assert out.splitlines()[-1].startswith("flash totals: ")


def test_no_bar_when_stderr_is_not_a_terminal(tmp_path):
    flash = tmp_path / "flash.bin"
    new_flash({"/main.py": MAIN}, path=flash).close()
    r = subprocess.run([sys.executable, "-m", "mpboot", "emulate", str(flash), "--boots", "2"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert r.stdout.splitlines()[-1].startswith("flash totals: ")


def test_install_waits_for_a_native_usb_board_to_come_back(tmp_path):
    """The board's port goes away at each hard boot (the reset into the trial boot, and the
    restart after the confirmation) and comes back a second later as a new pty behind the same
    path: the install reopens it, and the bar on the terminal says so."""
    path = tmp_path / "flash.bin"
    path.write_bytes(bootstage.provisioned(bootstage.signed("1.0.0", 1)).mem)
    (tmp_path / "v2.mpb").write_bytes(bootstage.signed("2.0.0", 2))
    with SerialBoard(path, tmp_path) as board, \
            ReenumeratingPort(board.port, tmp_path / "ttyACM0", gap=1.0) as usb:
        usb.wait_quiet()
        before = usb.enumerations
        # --timeout: how long the port may stay away, and how long a console may stay quiet after
        # it came back (the stage's lines may have gone meanwhile) before the log is read
        code, out, shown = run_on_terminal(["install", "-p", tmp_path / "ttyACM0", tmp_path / "v2.mpb",
                                            "--timeout", "8"])
        assert code == 0, shown
        assert out.splitlines()[-1].startswith("%s: installed and confirmed ota_1 2.0.0 sv2" % (tmp_path / "v2.mpb"))
        assert usb.enumerations > before
    assert BAR in shown and "sending the image" in shown, shown
    assert "waiting for %s to come back after the reset" % (tmp_path / "ttyACM0") in shown
