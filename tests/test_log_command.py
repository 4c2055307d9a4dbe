"""`mpboot log FLASH.bin`: the state partition of a whole-flash image, read with the device's reader."""

import hashlib
import json

import pytest

from mpboot import cli
from mpboot.boards import load_board
from mpboot.emulator.flash import NorFlash
from mpboot.emulator.partition import FlashPartition
from mpboot.espidf import partition_table as pt
from mpboot_fw import statelog

ROOT = b'{"signed": {"version": 3}}' + b" " * 500
SHA = bytes(range(32))


def flash_image(tmp_path, table=True, formatted=True):
    board = load_board("esp32-4mb")
    flash = NorFlash(board.flash_size)
    if table:
        flash.write(pt.TABLE_OFFSET, pt.to_binary(board.partitions))
    part = board.partition("mpboot")
    dev = FlashPartition(flash, part.offset, part.size)
    if formatted:
        st = statelog.format_partition(dev, ROOT, root_version=3, time_floor=1700000000)
        st.next_boot()
        st.log_event("installed", "ota_1 1.2.0", "secver=4")
        st.set_pending("ota_1", "1.2.0", 4, SHA)
        st.next_boot()
        st.raise_floor(4)
        st.clear_pending()
        st.log_event("confirmed", "health check passed")
        st.set_blob("timestamp", b'{"ts": 1}', 12)
    path = tmp_path / "flash.bin"
    path.write_bytes(bytes(flash.mem))
    return path


def run(capsys, *argv):
    code = cli.main(["log"] + [str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_text_report(tmp_path, capsys):
    path = flash_image(tmp_path)
    before = hashlib.sha256(path.read_bytes()).digest()
    code, out, err = run(capsys, path)
    assert code == 0, err
    assert "security version floor  4" in out
    assert "trusted time floor      1700000000 (2023-11-14T22:13:20Z)" in out
    assert "boot count              2" in out
    assert "root metadata           version 3, %d bytes" % len(ROOT) in out
    assert "timestamp               version 12, 9 bytes" in out
    assert "pending install         none" in out
    assert out.index("installed") < out.index("confirmed")
    assert "boot 1     installed           ota_1 1.2.0  [secver=4]" in out
    assert "bundle floors           none" in out
    assert hashlib.sha256(path.read_bytes()).digest() == before, "log must not write"


def test_json_report_matches_the_state(tmp_path, capsys):
    code, out, _ = run(capsys, flash_image(tmp_path), "--json")
    assert code == 0
    report = json.loads(out)
    assert report["partition"] == {"label": "mpboot", "offset": 0x3F0000, "size": 0x10000}
    assert (report["floor"], report["time_floor"], report["boot_count"]) == (4, 1700000000, 2)
    assert report["root"] == {"version": 3, "length": len(ROOT), "sha256": hashlib.sha256(ROOT).hexdigest()}
    assert report["metadata"] == {"timestamp": {"version": 12, "length": 9}}
    assert report["pending"] is None and report["bundle_floors"] == {}
    assert report["events"] == [
        {"boot": 1, "code": "installed", "reason": "ota_1 1.2.0", "detail": "secver=4"},
        {"boot": 2, "code": "confirmed", "reason": "health check passed", "detail": None}]
    assert report["log"]["sectors"] == 16 and not report["log"]["needs_compaction"]


def test_board_layout_when_the_table_is_gone(tmp_path, capsys):
    path = flash_image(tmp_path, table=False)
    code, _, err = run(capsys, path)
    assert code == 1 and "no valid partition table" in err and "--board" in err
    code, out, _ = run(capsys, path, "--board", "esp32-4mb")
    assert code == 0 and "security version floor  4" in out


@pytest.mark.parametrize("case,message", [
    ("missing", "flash image not found"),
    ("short", "too short to hold a partition table"),
    ("truncated", "before the mpboot partition ends"),
    ("unformatted", "holds no readable state"),
    ("no-partition", "has no 'mpboot' partition"),
])
def test_bad_images_fail_with_one_line(tmp_path, capsys, case, message):
    path = tmp_path / "flash.bin"
    if case == "short":
        path.write_bytes(b"\xff" * 0x8100)
    elif case == "truncated":
        path.write_bytes(flash_image(tmp_path).read_bytes()[:0x3F8000])
    elif case == "unformatted":
        flash_image(tmp_path, formatted=False)
    elif case == "no-partition":
        data = bytearray(flash_image(tmp_path).read_bytes())
        board = load_board("esp32-4mb")
        table = pt.to_binary([p for p in board.partitions if p.name != "mpboot"])
        data[pt.TABLE_OFFSET:pt.TABLE_OFFSET + len(table)] = table
        path.write_bytes(bytes(data))
    code, out, err = run(capsys, path)
    assert code == 1 and out == ""
    assert err.startswith("mpboot: error: ") and message in err and err.count("\n") == 1, err


def test_a_state_without_a_root_is_one_clear_line(tmp_path, capsys):
    """A snapshot with valid CRCs but no root (crafted, or written by a bug) was taken as the
    state, and `mpboot log` died on it with a TypeError; such a snapshot is no state."""
    from statelog_craft import crafted_snapshot, record

    path = flash_image(tmp_path, formatted=False)
    data = bytearray(path.read_bytes())
    part = load_board("esp32-4mb").partition("mpboot")
    raw = b"".join(record(*r) for r in crafted_snapshot(1, 0, 0))
    data[part.offset:part.offset + len(raw)] = raw
    path.write_bytes(bytes(data))
    code, out, err = run(capsys, path)
    assert code == 1 and out == ""
    assert err.startswith("mpboot: error: ") and err.count("\n") == 1, err
    assert "holds no readable state (no complete snapshot that holds a root: format the partition)" in err


def test_reads_what_flash_image_writes(tmp_path, capsys):
    """End to end with the real producer: `mpboot flash-image --root` formats the partition."""
    from pathlib import Path

    from realfirmware import micropython_firmware

    data = Path(__file__).parent / "device" / "data"
    out = tmp_path / "flash.bin"
    assert cli.main(["flash-image", "--board", "esp32-4mb", "--app", str(data / "image.mpb"), "--firmware",
                     str(micropython_firmware()), "--root", str(data / "root.json"), "-o", str(out)]) == 0
    capsys.readouterr()
    code, text, err = run(capsys, out, "--json")
    assert code == 0, err
    report = json.loads(text)
    root = (data / "root.json").read_bytes()
    assert report["root"] == {"version": 1, "length": len(root), "sha256": hashlib.sha256(root).hexdigest()}
    # flash-image starts the floors at the image's security version and now (test_flashimage_floors.py)
    assert (report["floor"], report["boot_count"], report["events"], report["pending"]) == (5, 0, [], None)


def bundle_image(tmp_path):
    """A state with bundle floors and every bundle event of docs/bundles.md."""
    board = load_board("esp32-4mb")
    flash = NorFlash(board.flash_size)
    flash.write(pt.TABLE_OFFSET, pt.to_binary(board.partitions))
    part = board.partition("mpboot")
    st = statelog.format_partition(FlashPartition(flash, part.offset, part.size), ROOT, root_version=3)
    st.next_boot()
    st.log_event("bundle-installed", "", "app 1.2.0 b")
    st.log_event("bundle-verified", "", "app 1.2.0 b")
    st.log_event("bundle-confirmed", "", "app 1.2.0 b")
    st.raise_bundle_floor("app", 7)
    st.raise_bundle_floor("mpboot", 2)
    st.log_event("bundle-trial-failed", "import-error", "app 1.3.0 a")
    st.log_event("bundle-rolled-back", "not-confirmed", "app a")
    st.log_event("bundle-switched", "bad-copy", "mpboot b")
    st.log_event("bundle-held", "wrong-mpy", "app 2.0.0")
    st.log_event("bundle-refused", "below-floor", "app 1.0.0 from ota")
    st.log_event("bundle-refused", "bad-pointer", None)
    path = tmp_path / "flash.bin"
    path.write_bytes(bytes(flash.mem))
    return path


def test_bundle_floors_and_events_in_text(tmp_path, capsys):
    code, out, err = run(capsys, bundle_image(tmp_path))
    assert code == 0, err
    lines = out.splitlines()
    at = lines.index("  bundle floors           app 7")
    assert lines[at + 1] == "                          mpboot 2"
    events = lines[lines.index("events (9, oldest first; the last 32 are kept):") + 1:]
    assert events == [
        "  boot 1     bundle-installed    app 1.2.0, copy b",
        "  boot 1     bundle-verified     app 1.2.0, copy b",
        "  boot 1     bundle-confirmed    app 1.2.0, copy b",
        "  boot 1     bundle-trial-failed app 1.3.0, copy a: import-error",
        "  boot 1     bundle-rolled-back  app, copy a: not-confirmed",
        "  boot 1     bundle-switched     mpboot, copy b: bad-copy",
        "  boot 1     bundle-held         app 2.0.0: wrong-mpy",
        "  boot 1     bundle-refused      app 1.0.0 from ota: below-floor",
        "  boot 1     bundle-refused      bad-pointer",
    ]


def test_bundle_floors_and_events_in_json(tmp_path, capsys):
    code, out, err = run(capsys, bundle_image(tmp_path), "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["bundle_floors"] == {"app": 7, "mpboot": 2}
    assert list(report["bundle_floors"]) == ["app", "mpboot"], "sorted by name"
    events = report["events"]
    assert events[0] == {"boot": 1, "code": "bundle-installed", "reason": "", "detail": "app 1.2.0 b",
                         "bundle": {"name": "app", "version": "1.2.0", "copy": "b", "more": None}}
    assert events[3]["bundle"] == {"name": "app", "version": "1.3.0", "copy": "a", "more": None}
    assert events[3]["reason"] == "import-error"
    assert events[4]["bundle"] == {"name": "app", "copy": "a", "more": None}
    assert events[6]["bundle"] == {"name": "app", "version": "2.0.0", "more": None}
    assert events[7]["bundle"] == {"name": "app", "more": "1.0.0 from ota"}
    assert events[8]["bundle"] == {"name": None, "more": None} and events[8]["detail"] is None
    # The codes are stored whole (the event code cap was 16 bytes: bundle-trial-fai).
    assert [e["code"] for e in events][3:5] == ["bundle-trial-failed", "bundle-rolled-back"]
