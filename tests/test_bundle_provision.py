"""`mpboot provision` with bundles, onto an emulated board over its serial console through the
real mpremote: the package as the bundle mpboot (signed on the fly with --key) and an application
bundle land where the spec puts them, in the order that keeps a cut-off board booting (each
copy's files, its manifest, its pointer; boot.py last), the legacy lib/mpboot_fw/ goes once the
fixed loader is there, and a new release of a bundle goes into the copy the board does not run,
an earlier release's files taken out of it first; then the flash boots the stage from the
bundle."""

import json

import pytest

import bootstage
import clihelp
from emuboard import new_flash
from mpboot import bundle, cli
from mpboot.emulator.board import Board
from mpboot.emulator.vfs import mount, read_files
from serialboard import SerialBoard
from test_bundle_layout import pem

BOARD = bootstage.BOARD


@pytest.fixture
def setup(tmp_path):
    """An unprovisioned board (MicroPython, the partition table, a signed 1.0.0 in ota_0, an
    erased state), the root and key as files, and releases of the bundle myapp: 1 and 2 with
    main.py and lib/util.py, 3 with main.py and other.py only."""
    flash = tmp_path / "flash.bin"
    # An older lib/mpboot_fw/ that must not be imported: the state step has to run the package's bundle.
    legacy = b"raise ImportError('the legacy package was imported')\n"
    new_flash(files={"/lib/mpboot_fw/__init__.py": b"", "/lib/mpboot_fw/statelog.py": legacy,
                     "/lib/mpboot_fw/slots.py": legacy}, slots={0: bootstage.signed("1.0.0", 1)}, path=flash).close()
    (tmp_path / "root.json").write_bytes(bootstage.ROOT)
    pem(tmp_path / "release.pem", bootstage.RELEASE)
    for version, names in (("1.0.0", ("main.py", "lib/util.py")), ("2.0.0", ("main.py", "lib/util.py")),
                           ("3.0.0", ("main.py", "other.py"))):
        app = tmp_path / ("app" + version)
        for name in names:
            (app / name).parent.mkdir(parents=True, exist_ok=True)
            (app / name).write_text("print('%s %s')\n" % (name, version))
        assert cli.main([str(a) for a in ("bundle", app, "--name", "myapp", "--version", version,
                                          "--security-version", 1, "--key", tmp_path / "release.pem", "--board",
                                          BOARD.name, "-o", tmp_path / ("myapp-%s.mpbundle" % version))]) == 0
    return flash


def vfs(flash):
    part = BOARD.partition("vfs")
    return read_files(mount(bytearray(flash.read_bytes()[part.offset:part.end])))


def provision(capsys, board, tmp_path, *extra):
    r = clihelp.run(capsys, "provision", "--port", board.port, "--root", tmp_path / "root.json", *extra, "--json")
    assert r.code == 0, r.err
    return json.loads(r.out)


def test_provision_bundles(setup, tmp_path, capsys):
    key = ("--key", tmp_path / "release.pem")
    with SerialBoard(setup, tmp_path) as board:
        # The state step runs the package from the bundle's copy just written (not the old
        # lib/mpboot_fw/): it verifies the running image against the root and formats the state.
        report = provision(capsys, board, tmp_path, *key, "--bundle", tmp_path / "myapp-1.0.0.mpbundle")
        assert report["bundles"] == {"mpboot": "a", "myapp": "a"} and report["root"] == "stored"
        assert report["running_image"] is None and report["state"]["security_floor"] == 1
        written = report["written"]
        # Each bundle's files, then its manifest, then its pointer; the package first; boot.py last.
        package = [p for p in written if p.startswith("/bundles/mpboot/")]
        assert package[-2:] == ["/bundles/mpboot/a.mpbm", "/bundles/mpboot/boot"]
        assert written[:len(package)] == package and not any(p.startswith("/lib/") for p in written)
        app = [p for p in written if p.startswith("/bundles/myapp/")]
        assert app == ["/bundles/myapp/a/lib/util.py", "/bundles/myapp/a/main.py", "/bundles/myapp/a.mpbm",
                       "/bundles/myapp/boot"]
        assert written.index("/bundles/myapp/boot") < written.index("/main.py") < written.index("/boot.py")
        assert written[-1] == "/boot.py"
        # the old lib/mpboot_fw/ goes once boot.py, the fixed loader, is there
        assert report["removed"] == ["/lib/mpboot_fw/__init__.py", "/lib/mpboot_fw/slots.py", "/lib/mpboot_fw/statelog.py"]
        # a new release: into copy b, the board's copy a untouched until the pointer names b
        report = provision(capsys, board, tmp_path, *key, "--bundle", tmp_path / "myapp-2.0.0.mpbundle")
        assert report["bundles"] == {"mpboot": "a", "myapp": "b"} and report["removed"] == []
        assert [p for p in report["written"] if p.startswith("/bundles/")] == [
            "/bundles/myapp/b/lib/util.py", "/bundles/myapp/b/main.py", "/bundles/myapp/b.mpbm", "/bundles/myapp/boot"]
        # the third: into copy a again, whose lib/util.py (not in release 3) is taken out first
        report = provision(capsys, board, tmp_path, *key, "--bundle", tmp_path / "myapp-3.0.0.mpbundle")
        assert report["bundles"] == {"mpboot": "a", "myapp": "a"}
        assert report["removed"] == ["/bundles/myapp/a/lib/util.py", "/bundles/myapp/a/lib"]
        assert provision(capsys, board, tmp_path, *key, "--bundle", tmp_path / "myapp-3.0.0.mpbundle")["written"] == []
        # Back to the legacy layout: lib/mpboot_fw/, then the bundle mpboot goes (its pointer
        # first), since the fixed loader would run it instead; the app's bundle stays.
        report = provision(capsys, board, tmp_path)
        assert "/lib/mpboot_fw/stage.mpy" in report["written"] and report["bundles"] == {}
        gone = report["removed"]
        assert gone[0] == "/bundles/mpboot/boot" and gone[-1] == "/bundles/mpboot"
        assert "/bundles/mpboot/a/mpboot_fw/stage.mpy" in gone and not any("myapp" in p for p in gone)
        code, _ = board.stop()
    assert code == 0
    dirs, files = vfs(setup)
    assert not any(p.startswith("/bundles/mpboot") for p in list(files) + dirs), sorted(files)
    laid = bundle.layout((tmp_path / "myapp-3.0.0.mpbundle").read_bytes(), bootstage.TRUSTED, BOARD)[1]
    assert {p: files[p] for p in files if p.startswith(("/bundles/myapp/a", "/bundles/myapp/boot"))} == laid
    assert "/bundles/myapp/a/lib" not in dirs
    with Board(str(setup), bootstage.BOARD, run_timeout=10) as emulated:
        record = emulated.boot(repl="from mpboot_fw import stage\nprint('FROM', stage.__file__)")
    assert record.outcome == "ok", record.text
    assert any(line.endswith(": ota_0 1.0.0 sv1 verified") for line in record.output), record.text
    assert "FROM /lib/mpboot_fw/stage.mpy" in record.output, record.text


def test_provision_refuses_bad_bundles_before_touching_the_device(setup, tmp_path, capsys):
    port = tmp_path / "no-such-port"
    clihelp.fails(capsys, "provision", "--port", port, "--bundle", tmp_path / "myapp-1.0.0.mpbundle",
                  match="--bundle needs --root ROOT.json")
    clihelp.fails(capsys, "provision", "--port", port, "--root", tmp_path / "root.json", "--key",
                  tmp_path / "missing.pem", match="missing.pem")
    clihelp.fails(capsys, "provision", "--port", port, "--root", tmp_path / "root.json", "--bundle",
                  tmp_path / "missing.mpbundle", match="not found")
