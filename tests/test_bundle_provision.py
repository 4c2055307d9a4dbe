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
    new_flash(files={}, slots={0: bootstage.signed("1.0.0", 1)}, path=flash).close()
    (tmp_path / "root.json").write_bytes(bootstage.ROOT)
    (tmp_path / "other-root.json").write_bytes(bootstage.make_root(targets=(bootstage.RELEASE2,)))
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


def test_provision_bundles(setup, tmp_path, capsys):
    base = ("provision", "--port")
    with SerialBoard(setup, tmp_path) as board:
        # the legacy layout first, as an existing board has it (trusting another root)
        r = clihelp.run(capsys, *base, board.port, "--root", tmp_path / "other-root.json", "--json")
        assert r.code == 0, r.err
        assert "/lib/mpboot_fw/stage.mpy" in json.loads(r.out)["written"]
        # The state step runs the package from the bundle's copy just written: it verifies the
        # running image against the root and formats the state with it.
        r = clihelp.run(capsys, *base, board.port, "--root", tmp_path / "root.json", "--replace-root", "--key",
                        tmp_path / "release.pem", "--bundle", tmp_path / "myapp-1.0.0.mpbundle", "--json")
        assert r.code == 0, r.err
        report = json.loads(r.out)
        assert report["bundles"] == {"mpboot": "a", "myapp": "a"} and report["root"] == "replaced"
        assert report["running_image"] is None and report["state"]["security_floor"] == 1
        written = report["written"]
        # Each bundle's files, then its manifest, then its pointer; the package first; boot.py last.
        package = [p for p in written if p.startswith("/bundles/mpboot/")]
        assert package[-2:] == ["/bundles/mpboot/a.mpbm", "/bundles/mpboot/boot"]
        assert written[:len(package)] == package
        app = [p for p in written if p.startswith("/bundles/myapp/")]
        assert app == ["/bundles/myapp/a/lib/util.py", "/bundles/myapp/a/main.py", "/bundles/myapp/a.mpbm",
                       "/bundles/myapp/boot"]
        assert written.index("/bundles/myapp/boot") < written.index("/main.py") and written[-1] == "/main.py"
        # boot.py, the fixed loader, is the one the legacy layout has too: written once
        assert "/boot.py" in report["unchanged"]
        # the legacy package went once the fixed loader was there
        assert "/lib/mpboot_fw/stage.mpy" in report["removed"]
        # a new release: into copy b, the board's copy a untouched until the pointer names b
        r = clihelp.run(capsys, *base, board.port, "--root", tmp_path / "root.json", "--key", tmp_path / "release.pem",
                        "--bundle", tmp_path / "myapp-2.0.0.mpbundle", "--json")
        assert r.code == 0, r.err
        report = json.loads(r.out)
        assert report["bundles"] == {"mpboot": "a", "myapp": "b"}
        assert [p for p in report["written"] if p.startswith("/bundles/")] == [
            "/bundles/myapp/b/lib/util.py", "/bundles/myapp/b/main.py", "/bundles/myapp/b.mpbm", "/bundles/myapp/boot"]
        assert report["removed"] == []
        # the third: into copy a again, whose lib/util.py (not in release 3) is taken out first
        r = clihelp.run(capsys, *base, board.port, "--root", tmp_path / "root.json", "--key", tmp_path / "release.pem",
                        "--bundle", tmp_path / "myapp-3.0.0.mpbundle", "--json")
        assert r.code == 0, r.err
        report = json.loads(r.out)
        assert report["bundles"] == {"mpboot": "a", "myapp": "a"}
        assert report["removed"] == ["/bundles/myapp/a/lib/util.py", "/bundles/myapp/a/lib"]
        # the same again: nothing to write
        r = clihelp.run(capsys, *base, board.port, "--root", tmp_path / "root.json", "--key", tmp_path / "release.pem",
                        "--bundle", tmp_path / "myapp-3.0.0.mpbundle", "--json")
        assert r.code == 0 and json.loads(r.out)["written"] == [], r.out
        code, _ = board.stop()
    assert code == 0
    dirs, files = vfs(setup)
    assert not any(p.startswith("/lib/mpboot_fw/") for p in files), sorted(files)
    laid = bundle.layout((tmp_path / "myapp-3.0.0.mpbundle").read_bytes(), bootstage.TRUSTED, BOARD)[1]
    assert {p: files[p] for p in files if p.startswith("/bundles/myapp/a")} == \
        {p: v for p, v in laid.items() if p != "/bundles/myapp/boot"}
    assert files["/bundles/myapp/boot"] == b"a" and files["/bundles/mpboot/boot"] == b"a"
    assert "/bundles/myapp/a/lib" not in dirs
    with Board(str(setup), bootstage.BOARD, run_timeout=10) as emulated:
        record = emulated.boot(repl="from mpboot_fw import stage\nprint('FROM', stage.__file__)")
    assert record.outcome == "ok", record.text
    assert any(line.endswith(": ota_0 1.0.0 sv1 verified") for line in record.output), record.text
    assert "FROM /bundles/mpboot/a/mpboot_fw/stage.mpy" in record.output, record.text


def test_provision_refuses_bad_bundles_before_touching_the_device(setup, tmp_path, capsys):
    port = tmp_path / "no-such-port"
    clihelp.fails(capsys, "provision", "--port", port, "--bundle", tmp_path / "myapp-1.0.0.mpbundle",
                  match="--bundle needs --root ROOT.json")
    clihelp.fails(capsys, "provision", "--port", port, "--root", tmp_path / "root.json", "--key",
                  tmp_path / "missing.pem", match="missing.pem")
    clihelp.fails(capsys, "provision", "--port", port, "--root", tmp_path / "root.json", "--bundle",
                  tmp_path / "missing.mpbundle", match="not found")
