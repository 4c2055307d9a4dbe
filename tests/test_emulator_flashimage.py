"""`mpboot flash-image`: esptool merge-bin as the oracle for the layout, and the image booting on
the emulated board (signed image from the device fixtures, root as trust anchor, files)."""

import json
import subprocess
import sys

import pytest

import appbuilder
from emuboard import board_runtime
from mpboot import boards, flashimage
from mpboot.cli import main as cli
from mpboot.emulator import runtimes
from mpboot.emulator.board import Board
from mpboot.emulator.vfs import mount, read_files
from mpboot.espidf import otadata as od
from mpboot.espidf import partition_table as pt
from mpboot_fw import statelog
from mpboot_fw.blockdev import BytesDevice
from realfirmware import micropython_firmware

DATA = __import__("pathlib").Path(__file__).parent / "device" / "data"


@pytest.fixture(scope="module")
def firmware():
    return micropython_firmware()


@pytest.fixture
def files(tmp_path):
    d = tmp_path / "files"
    (d / "lib").mkdir(parents=True)
    (d / "main.py").write_text("import esp32\nprint('hello from', esp32.Partition(esp32.Partition.RUNNING).info()[4])\n")
    (d / "lib" / "util.py").write_text("X = 1\n")
    return d


def make(tmp_path, *extra, app=DATA / "image.mpb", board="esp32-4mb", firmware=None):
    out = tmp_path / "flash.bin"
    args = ["flash-image", "--board", board, "--app", str(app), "-o", str(out)]
    if firmware:
        args += ["--firmware", str(firmware)]
    assert cli(args + list(extra)) == 0
    return out


def test_flash_image_is_what_esptool_merge_bin_makes(tmp_path, firmware, files):
    out = make(tmp_path, "--root", str(DATA / "root.json"), "--files", str(files), "--time-floor", "1767225600",
               firmware=firmware)
    board = boards.load_board("esp32-4mb")
    app, root = (DATA / "image.mpb").read_bytes(), (DATA / "root.json").read_bytes()
    start = flashimage.state_start(board, app, root, time_floor="1767225600")
    parts = flashimage.parts(board, app, firmware.read_bytes(), root, flashimage.read_files(files), start)
    args = []
    for i, (offset, data, _) in enumerate(parts):
        path = tmp_path / ("part%d.bin" % i)
        path.write_bytes(data)
        args += ["0x%x" % offset, str(path)]
    merged = tmp_path / "merged.bin"
    subprocess.run([sys.executable, "-m", "esptool", "--chip", "esp32", "merge-bin", "--pad-to-size", "4MB",
                    "-o", str(merged)] + args, check=True, capture_output=True)
    assert out.read_bytes() == merged.read_bytes()
    assert [name for _, _, name in parts] == ["bootloader", "partition table", "otadata", "app in ota_0", "vfs",
                                              "state (trust anchor)"]


def test_flash_image_contents(tmp_path, firmware, files):
    image = make(tmp_path, "--root", str(DATA / "root.json"), "--files", str(files), firmware=firmware).read_bytes()
    board = boards.load_board("esp32-4mb")
    download = firmware.read_bytes()
    assert image[0x1000:0x8000] == download[:0x7000]  # the download's bootloader region, as flashed
    assert tuple(pt.from_binary(image[0x8000:0x8C00])) == board.partitions
    assert od.read(image[0xD000:0xF000])[0] == od.OtaEntry.make(1, od.VALID)
    app = (DATA / "image.mpb").read_bytes()
    assert image[0x10000:0x10000 + len(app)] == app
    vfs = board.partition("vfs")
    assert read_files(mount(bytearray(image[vfs.offset:vfs.end])))[1] == {
        "/main.py": (files / "main.py").read_bytes(), "/lib/util.py": b"X = 1\n"}
    state = board.partition("mpboot")
    loaded = statelog.load(BytesDevice(image[state.offset:state.end]))
    assert loaded.root() == (DATA / "root.json").read_bytes()
    assert loaded.floor == 5  # image.mpb's security version: the floors are tested in test_flashimage_floors.py
    assert boards.match_image(image) == board


@pytest.mark.parametrize("runtime", runtimes.NAMES)
def test_flash_image_boots_on_the_emulated_board(tmp_path, firmware, files, runtime):
    # The unix port mounts littlefs-python's image with its own VfsLfs2.
    out = make(tmp_path, "--root", str(DATA / "root.json"), "--files", str(files), firmware=firmware)
    with Board(str(out), "esp32-4mb", runtime=board_runtime(runtime)) as board:
        record = board.boot()
    assert record.slot == "ota_0" and record.output == ["hello from ota_0"]
    assert record.app["version"] == "app-1.0" and record.app["secure_version"] == 3


def test_without_files_or_root_the_partitions_stay_erased(tmp_path, firmware):
    image = make(tmp_path, firmware=firmware).read_bytes()
    board = boards.load_board("esp32-4mb")
    for name in ("vfs", "mpboot"):
        p = board.partition(name)
        assert image[p.offset:p.end] == b"\xff" * p.size


def test_merged_download_as_app_gives_bootloader_and_app(tmp_path, firmware):
    """The real MicroPython firmware, merged download as --app: its app goes into ota_0."""
    image = make(tmp_path, app=firmware).read_bytes()
    download = firmware.read_bytes()
    assert image[0x1000:0x8000] == download[:0x7000]
    assert image[0x10000:0x10000 + 1495344] == download[0xF000:]
    with Board(str(tmp_path / "flash.bin"), "esp32-4mb", runtime=board_runtime()) as board:
        record = board.boot()
    assert record.slot == "ota_0" and record.app["secure_version"] == 0
    assert record.output == ["Performing initial setup"]


def test_other_chips(tmp_path, firmware):
    app = tmp_path / "s3.bin"
    app.write_bytes(appbuilder.build(chip_id=9))
    # An ESP32 download has no bootloader for an ESP32-S3 board.
    assert cli(["flash-image", "--board", "esp32s3-8mb", "--app", str(app), "--firmware", str(firmware),
                "-o", str(tmp_path / "x.bin")]) == 1
    s3_download = bytearray(b"\xff" * 0x9000)
    s3_download[:24] = appbuilder.build(chip_id=9)[:24]
    s3_download[0x8000:0x8C00] = pt.to_binary(boards.load_board("esp32s3-8mb").partitions)
    fw = tmp_path / "s3-merged.bin"
    fw.write_bytes(bytes(s3_download))
    out = make(tmp_path, app=app, board="esp32s3-8mb", firmware=fw)
    assert out.stat().st_size == 8 * 1024 * 1024
    assert out.read_bytes()[:0x8000] == bytes(s3_download[:0x8000])


@pytest.mark.parametrize("change,message", [
    (dict(app="missing.bin"), "not found"),
    (dict(app="garbage"), "does not start with an ESP-IDF app"),
    (dict(app="c3"), "ESP-IDF app for esp32"),
    (dict(app="truncated"), "(image too long check failed)"),
    (dict(app="truncated", root=str(DATA / "root.json")), "(image too long check failed)"),
    (dict(firmware=None), "no bootloader"),
    (dict(firmware="garbage"), "not a merged firmware download"),
    (dict(root="garbage"), "not a valid signed root"),
    (dict(board="esp8266"), "unknown board"),
    (dict(files="missing"), "not a directory"),
])
def test_bad_inputs_get_one_line_and_no_output(tmp_path, firmware, capsys, change, message):
    (tmp_path / "garbage").write_bytes(b"\x00" * 5000)
    (tmp_path / "c3").write_bytes(appbuilder.build(chip_id=5))
    (tmp_path / "truncated").write_bytes((DATA / "image.mpb").read_bytes()[:3000])  # inside the app's segments
    opts = dict(board="esp32-4mb", app=str(DATA / "image.mpb"), firmware=str(firmware), root=None, files=None)
    opts.update({k: (str(tmp_path / v) if v and k != "board" else v) for k, v in change.items()})
    args = ["flash-image", "-o", str(tmp_path / "out.bin")]
    for key, value in opts.items():
        if value is not None:
            args += ["--" + key, value]
    assert cli(args) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not (tmp_path / "out.bin").exists()


def test_json_summary(tmp_path, firmware, capsys):
    make(tmp_path, "--json", firmware=firmware)
    summary = json.loads(capsys.readouterr().out)
    assert summary["flash_size"] == 0x400000
    assert [(p["offset"], p["part"]) for p in summary["parts"]] == [
        (0x1000, "bootloader"), (0x8000, "partition table"), (0xD000, "otadata"), (0x10000, "app in ota_0")]
