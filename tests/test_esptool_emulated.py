"""The real esptool (pinned in requirements.lock, without its stub) against the emulated board's
ROM serial loader (emulator/romloader.py) on a pseudo-terminal: `mpboot emulate --serial
--download` is a board powered on with GPIO0 held low; `mpboot flash --port` writes a whole-flash
image made from the real MicroPython firmware, the flash then holds exactly its bytes, and the
board boots it through the boot stage. A block damaged on the line and a flash that does not keep
what is written are errors esptool reports, not flashes it accepts."""

import hashlib
import struct
import subprocess
import sys
import threading
import time

import pytest
import serial

import clihelp
from emuboard import new_flash
from mpboot import boards
from mpboot.cli import main as cli
from mpboot.commands import flash as flash_command
from mpboot.emulator import romloader
from mpboot.emulator.board import Board
from mpboot.emulator.console import Pty, SerialConsole
from mpboot.emulator.flash import NorFlash
from realfirmware import micropython_firmware
from serialboard import STOP_AFTER, SerialBoard

BOARD = boards.load_board("esp32-4mb")
ESPTOOL_TIMEOUT = 240
MAIN_PY = "f = open('/booted.txt', 'w')\nf.write('APP v1')\nf.close()\nprint('APP v1')\n"


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    """A whole-flash image made by the CLI from the real firmware: boot stage, trust anchor, app."""
    d = tmp_path_factory.mktemp("esptool")
    fw = str(micropython_firmware())
    (d / "app").mkdir()
    (d / "app" / "main.py").write_text(MAIN_PY)
    for argv in (["keygen", d / "root.pem"], ["keygen", d / "rel.pem"],
                 ["root", "init", d / "root.json", "--root-key", d / "root.pem", "--targets-key", d / "rel.pem.pub"],
                 ["device-files", "--board", "esp32-4mb", "--app", d / "app", "-o", d / "dev"],
                 ["sign", "--key", d / "rel.pem", "--version", "1.0.0", "--security-version", "1",
                  "--board", "esp32-4mb", fw, "-o", d / "v1.mpb"],
                 ["flash-image", "--board", "esp32-4mb", "--app", d / "v1.mpb", "--firmware", fw,
                  "--root", d / "root.json", "--files", d / "dev", "-o", d / "flash.bin"]):
        assert cli([str(a) for a in argv]) == 0
    return d / "flash.bin"


class DownloadBoard(SerialBoard):
    """`mpboot emulate FLASH --board B --serial --download` in a subprocess (a new board when
    FLASH does not exist yet); mpremote and stop() as SerialBoard's."""

    def __init__(self, flash, tmp):
        self.flash = flash
        self.link = tmp / "ttyROM"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mpboot", "emulate", str(flash), "--board", BOARD.name, "--serial", "--download",
             "--serial-link", str(self.link), "--stop-after", str(STOP_AFTER), "--timeout", "10"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        while not self.link.is_symlink():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("the board did not start: %s" % (self.stop(),))
            time.sleep(0.05)
        self.port = str(self.link.resolve())


def esptool(argv, timeout=ESPTOOL_TIMEOUT):
    start = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "esptool"] + argv, capture_output=True, text=True, timeout=timeout)
    return r.returncode, r.stdout + r.stderr, time.monotonic() - start


def test_mpboot_flash_writes_the_image_and_the_board_boots_it(image, tmp_path, capfd):
    flash = tmp_path / "new.bin"  # a new board: its flash is erased
    with DownloadBoard(flash, tmp_path) as board:
        assert flash.read_bytes() == b"\xff" * BOARD.flash_size
        # First esptool with mpboot flash's arguments, staying in the loader afterwards, so the
        # flash can be compared before anything boots from it.
        argv = flash_command.esptool_args(BOARD, board.port, 115200, image)
        assert argv[argv.index("--after") + 1] == "soft-reset"
        argv[argv.index("--after") + 1] = "no-reset"
        code, out, seconds_115200 = esptool(argv)
        assert code == 0, out
        assert "Chip type:          ESP32-D0WD-V3 (revision v3.0)" in out and "MAC:                24:0a:c4:00:00:01" in out
        assert "Crystal frequency:  40MHz" in out and "Hash of data verified." in out and "Staying in bootloader." in out
        assert flash.read_bytes() == image.read_bytes()
        # Then the command itself, at 921600 baud: the whole image again, verified, and the board
        # leaves the loader to boot it.
        start = time.monotonic()
        assert cli(["flash", "--port", board.port, str(image), "--baud", "921600"]) == 0
        seconds_921600 = time.monotonic() - start
        out = capfd.readouterr().out
        assert "Changing baud rate to 921600" in out and "Hash of data verified." in out and "Soft resetting..." in out
        assert out.endswith("%s written to the esp32-4mb on %s\n" % (image, board.port)), out[-300:]
        # It booted through the boot stage into the app's main.py, which left its mark.
        assert board.mpremote("fs", "cat", ":booted.txt").stdout == "APP v1"
        assert board.mpremote("exec", "import machine; print(machine.unique_id().hex())").stdout == "240ac4000001\n"
        code, out = board.stop()
    assert code == 0 and "stopped after" in out, out
    ota_0 = BOARD.app_slots[0]
    assert flash.read_bytes()[:ota_0.offset + ota_0.size] == image.read_bytes()[:ota_0.offset + ota_0.size]
    print("esptool write-flash of 4 MiB: %.1f s at 115200 baud, mpboot flash %.1f s at 921600 (a pty ignores baud)"
          % (seconds_115200, seconds_921600))


class InProcessBoard:
    """The console with download mode in a thread, on `pty`, over `flash` (a NorFlash)."""

    def __init__(self, pty, flash, unique_id=bytes.fromhex("240ac4000001")):
        self.pty = pty
        self.board = Board(flash, BOARD, run_timeout=10, unique_id=unique_id)
        self.console = SerialConsole(self.board, pty, download=True)
        self.thread = threading.Thread(target=self.console.serve, kwargs=dict(seconds=120), daemon=True)
        self.thread.start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.console.stop.set()
        self.thread.join(30)
        self.board.close()
        self.pty.close()
        assert not self.thread.is_alive()


BLOCK = b"\x11" * 1024  # XOR checksum 0xEF: no SLIP escape in the frame header
BAD_SEQ = 2
FRAME_HEAD = b"\xc0\x00\x03\x10\x04" + struct.pack("<III", romloader.checksum(BLOCK), len(BLOCK), BAD_SEQ)


class NoisyLine(Pty):
    """Line noise that hits one block each time it is sent: a byte of FLASH_DATA seq BAD_SEQ."""

    def read(self, timeout):
        data = super().read(timeout)
        at = data.find(FRAME_HEAD)
        if at >= 0 and len(data) > at + 100:
            data = data[:at + 100] + bytes((data[at + 100] ^ 0x40,)) + data[at + 101:]
        return data


def rom_argv(port, path):
    """mpboot flash's esptool arguments for a pty, on a small file, uncompressed (FLASH_DATA)."""
    argv = flash_command.esptool_args(BOARD, port, 115200, path, connect_attempts=2)
    argv.remove("--compress")
    return argv


def test_a_block_damaged_on_the_line_is_an_error(tmp_path):
    (tmp_path / "data.bin").write_bytes(BLOCK * 8)
    flash = NorFlash(size=BOARD.flash_size)
    with InProcessBoard(NoisyLine(), flash) as emulated:
        code, out, _ = esptool(rom_argv(emulated.pty.path, tmp_path / "data.bin"), timeout=120)
    assert code != 0, out
    assert "Failed to write to target flash after seq %d (result was 0107: Checksum error)" % BAD_SEQ in out, out
    assert flash.read(0, 2048) == BLOCK * 2 and flash.read(2048, 1024) == b"\xff" * 1024  # nothing past it


class StuckBit(NorFlash):
    """A flash with one cell stuck at 0: what is programmed there does not stay."""

    STUCK = 5001

    def write(self, addr, data):
        super().write(addr, data)
        if addr <= self.STUCK < addr + len(data):
            self.mem[self.STUCK] &= 0xFE


def test_a_flash_that_does_not_keep_the_data_fails_the_md5_check(tmp_path):
    data = bytes(range(1, 256)) * 40
    assert data[StuckBit.STUCK] & 1  # a bit the stuck cell loses
    (tmp_path / "data.bin").write_bytes(data)
    flash = StuckBit(size=BOARD.flash_size)
    with InProcessBoard(Pty(), flash) as emulated:
        code, out, _ = esptool(rom_argv(emulated.pty.path, tmp_path / "data.bin"), timeout=120)
    assert code != 0, out
    assert "MD5 of file does not match data in flash!" in out, out
    assert "Input MD5: %s" % hashlib.md5(data).hexdigest() in out
    assert "Flash MD5: %s" % hashlib.md5(flash.read(0, len(data))).hexdigest() in out


def test_read_mac_and_flash_id_follow_the_board(tmp_path):
    """The MAC is the board's unique_id (machine.unique_id()), the flash id its flash size."""
    flash = NorFlash(size=BOARD.flash_size)
    with InProcessBoard(Pty(), flash, unique_id=bytes.fromhex("a4cf12345678")) as emulated:
        rom = ["-p", emulated.pty.path, "--before", "no-reset", "--after", "no-reset", "--no-stub"]
        code, mac, _ = esptool(rom + ["read-mac"], timeout=60)
        assert code == 0 and mac.count("MAC:                a4:cf:12:34:56:78") == 2, mac  # chip info, then read-mac
        code, out, _ = esptool(rom + ["flash-id"], timeout=60)
    assert code == 0 and "Manufacturer: c8" in out, out
    assert "Detected flash size: %dMB" % (BOARD.flash_size >> 20) in out, out


def request(op, payload, chk=0):
    return romloader.slip(struct.pack("<BBHI", 0, op, len(payload), chk) + payload)


def read_until(port, ending, limit=200000):
    data = b""
    while not data.endswith(ending):
        c = port.read(1)
        assert c, "timed out waiting for %r after %r" % (ending, data[-300:])
        data += c
        assert len(data) < limit
    return data


@pytest.mark.parametrize("flag, cause", [(1, "PWRON_RESET"), (0, "SOFT_RESET")])
def test_leaving_the_loader_runs_the_flash_or_reboots(tmp_path, flag, cause):
    """FLASH_END 1 runs the user code (no reset: the power-on cause stays), 0 reboots (a
    software reset); the board boots its flash either way, GPIO0 being released."""
    flash = new_flash({"/main.py": "print('MAIN ran')\n"})
    pty = Pty()
    with serial.Serial(pty.path, timeout=20) as port, InProcessBoard(pty, flash):
        banner = read_until(port, b"waiting for download\r\n")
        assert b"boot:0x3 (DOWNLOAD_BOOT(UART0/UART1/SDIO_REI_REO_V2))" in banner
        port.write(request(romloader.SYNC, romloader.SYNC_PAYLOAD))
        reply = read_until(port, b"\xc0\xc0", limit=64)[:14]  # the first of its replies
        assert reply == romloader.slip(struct.pack("<BBHI", 1, romloader.SYNC, 4, romloader.SYNC_VALUE) + bytes(4))
        port.write(request(romloader.FLASH_END, struct.pack("<I", flag)))
        booted = read_until(port, b">>> ")
    assert ("=== boot 0 (hard, reset cause %s) ===" % cause).encode() in booted, booted[-500:]
    assert b"\x01\x04\x04\x00" + bytes(8) + b"\xc0" in booted and b"MAIN ran" in booted


def test_download_options_are_checked(tmp_path, capsys):
    clihelp.fails(capsys, "emulate", tmp_path / "new.bin", "--board", "esp32-4mb", "--download",
                  match="--download go with --serial")
    clihelp.fails(capsys, "emulate", tmp_path / "s3.bin", "--board", "esp32s3-8mb", "--serial", "--download",
                  "--stop-after", "1", match="only the classic ESP32's ROM loader is emulated, and board esp32s3-8mb")
    assert not (tmp_path / "new.bin").exists() and not (tmp_path / "s3.bin").exists()
