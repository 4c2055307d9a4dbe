"""Bundles on a device's filesystem, made by the host: `mpboot bundle --device-package`,
bundle.layout (the spec's /bundles/NAME/a/..., a.mpbm, boot = "a"), and the verbs that write it:
device-files (--bundle, --package-bundle, --key), flash-image --bundle. End to end through the
CLI in temporary directories, the device's own verifier as the judge, every bad input one error
line and nothing written; then a flash image made with --bundle booted on the emulated board."""

import hashlib
import json

import pytest
from cryptography.hazmat.primitives import serialization

import bootstage
from clihelp import fails, run
from hsmtoken import token  # noqa: F401 (fixture)
from mpboot import __version__, boards, bundle, resources
from mpboot.emulator.board import Board
from mpboot.emulator.vfs import mount, read_files
from mpboot.errors import MpbootError
from mpboot_fw import bundle as fmt
from realfirmware import micropython_firmware

def package_names():
    return sorted(p.name for p in resources.device_package_dir().glob("*.py"))
APP_MAIN = "import lib.util\nprint('BUNDLE APP', lib.util.VERSION)\n"


def pem(path, private_key):
    path.write_bytes(private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
    return path


@pytest.fixture(scope="module")
def kd(tmp_path_factory):
    """The boot-stage tests' root (targets: RELEASE) and keys as files, an app directory, and
    bundles of it made by the CLI: myapp for esp32-4mb, one for another board, one signed by a
    key the root does not trust."""
    d = tmp_path_factory.mktemp("layout")
    (d / "root.json").write_bytes(bootstage.ROOT)
    pem(d / "release.pem", bootstage.RELEASE)
    pem(d / "stranger.pem", bootstage.STRANGER)
    app = d / "app"
    (app / "lib").mkdir(parents=True)
    (app / "main.py").write_text(APP_MAIN)
    (app / "lib" / "util.py").write_text("VERSION = '1.0.0'\n")

    def make(out, *extra, key="release.pem", name="myapp", where=("--board", "esp32-4mb"), source=app):
        argv = ["bundle", source] + (["--name", name, "--version", "1.0.0", "--security-version", 1]
                                     if source != "--device-package" else [])
        argv += ["--key", d / key, "-o", d / out] + list(where) + list(extra)
        from mpboot import cli
        assert cli.main([str(a) for a in argv]) == 0, argv
        return d / out

    make("myapp.mpbundle")
    make("other-board.mpbundle", where=("--board", "esp32s3-8mb"))
    make("stranger.mpbundle", key="stranger.pem")
    make("same-name.mpbundle", where=())
    entry = d / "entry-app"
    (entry / "lib").mkdir(parents=True)
    (entry / "app.py").write_text(APP_MAIN)
    (entry / "lib" / "util.py").write_text("VERSION = '1.0.0'\n")
    make("entry-app.mpbundle", "--entry", "app", source=entry)
    make("lib2.mpbundle", name="sensors", where=("--chip", "esp32"), source=app / "lib")
    make("newer.mpbundle", "--min-firmware", "2.0.0", name="newer")
    make("mpy5.mpbundle", "--mpy", "--mpy-version", "5.0", name="m5", where=())
    data = (d / "myapp.mpbundle").read_bytes()
    (d / "tampered.mpbundle").write_bytes(data.replace(b"BUNDLE APP", b"BUNDLE BAD"))
    big = d / "big"
    big.mkdir()
    for i in range(2):  # random bytes (LittleFS stores them whole): 2 bundles of 2 x 250 KiB
        (big / ("blob%d.bin" % i)).write_bytes(hashlib.shake_256(b"%d" % i).digest(250 * 1024))
    make("big.mpbundle", name="big", where=(), source=big)
    make("big2.mpbundle", name="big2", where=(), source=big)
    make("mpboot.mpbundle", where=(), source="--device-package")
    return d


def test_device_package_bundle(kd, tmp_path, capsys):
    out = tmp_path / "mpboot.mpbundle"
    r = run(capsys, "bundle", "--device-package", "--key", kd / "release.pem", "--root", kd / "root.json",
            "-o", out, "--json")
    assert r.code == 0, r.err
    b = bundle.verify(out.read_bytes(), bootstage.TRUSTED, name=fmt.DEVICE_PACKAGE)
    # The package's source as it is today, under mpboot_fw/, in mpboot's own version.
    assert [(p, n, d) for p, n, d in b.files] == [
        ("mpboot_fw/" + n, len(s), hashlib.sha256(s).digest())
        for n, s in ((n, (resources.device_package_dir() / n).read_bytes()) for n in package_names())]
    assert (b.name, b.version, b.security_version, b.entry, b.mpy, b.board) == ("mpboot", __version__, 0, None, None,
                                                                                 None)
    r = run(capsys, "bundle", "--device-package", "--key", kd / "release.pem", "--mpy", "--version", "2.0.0",
            "--security-version", 4, "--board", "esp32-4mb", "-o", tmp_path / "m.mpbundle", "--json")
    assert r.code == 0, r.err
    b = bundle.verify((tmp_path / "m.mpbundle").read_bytes(), bootstage.TRUSTED, board="esp32-4mb", mpy=6)
    assert [p for p, _, _ in b.files] == ["mpboot_fw/" + n[:-3] + ".mpy" for n in package_names()]
    assert (b.version, b.security_version, b.mpy) == ("2.0.0", 4, 6)
    fails(capsys, "bundle", "--device-package", "--name", "x", "--key", kd / "release.pem", "-o", tmp_path / "x",
          match="--device-package bundles mpboot's own package as the bundle mpboot: drop --name")
    fails(capsys, "bundle", "--key", kd / "release.pem", "-o", tmp_path / "x",
          match="give APPDIR, --name, --version, --security-version (or --device-package")
    fails(capsys, "bundle", "--device-package", "--key", kd / "stranger.pem", "--root", kd / "root.json",
          "-o", tmp_path / "x", match="not signed by enough trusted keys")
    assert not (tmp_path / "x").exists()


def test_layout_is_the_spec_and_refuses_what_the_device_refuses(kd):
    data = (kd / "myapp.mpbundle").read_bytes()
    board = boards.load_board("esp32-4mb")
    b, files = bundle.layout(data, bootstage.TRUSTED, board)
    app = kd / "app"
    assert files == {"/bundles/myapp/a/lib/util.py": (app / "lib" / "util.py").read_bytes(),
                     "/bundles/myapp/a/main.py": APP_MAIN.encode(),
                     "/bundles/myapp/a.mpbm": b.manifest, "/bundles/myapp/boot": b"a"}
    assert list(files)[-1] == "/bundles/myapp/boot"  # a writer keeping the order names the copy last
    # The kept manifest is the one in the file, and the device's loader takes it.
    assert data[16:16 + len(b.manifest)] == b.manifest
    assert fmt.load_manifest(b.manifest, bootstage.TRUSTED, name="myapp", board="esp32-4mb").version == "1.0.0"
    _, as_b = bundle.layout(data, bootstage.TRUSTED, board, copy="b")
    assert sorted(as_b) == ["/bundles/myapp/b.mpbm", "/bundles/myapp/b/lib/util.py", "/bundles/myapp/b/main.py",
                            "/bundles/myapp/boot"] and as_b["/bundles/myapp/boot"] == b"b"
    other_root = bundle.fmt.trust.load_root(bootstage.make_root(targets=(bootstage.RELEASE2,)))
    tampered = data[:-3] + b"XYZ"
    for args, message in [
        ((data, other_root, board), "signature-threshold"),
        ((data, bootstage.TRUSTED, boards.load_board("esp32s3-8mb")), "wrong-chip"),
        (((kd / "other-board.mpbundle").read_bytes(), bootstage.TRUSTED, board), "wrong-chip"),
            ((data, bootstage.TRUSTED, board._replace(name="esp32-other")), "wrong-board: esp32-4mb"),
        ((tampered, bootstage.TRUSTED, board), "file-hash: main.py"),
    ]:
        with pytest.raises(MpbootError) as e:
            bundle.layout(*args, what="x.mpbundle")
        assert str(e.value).startswith("x.mpbundle: invalid bundle: ") and message in str(e.value), e.value
    with pytest.raises(MpbootError, match="both the bundle myapp"):
        bundle.layouts([("one", data), ("two", (kd / "same-name.mpbundle").read_bytes())], bootstage.TRUSTED, board)


def tree(root):
    return {"/" + p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_device_files_with_the_package_as_a_bundle(kd, tmp_path, capsys):
    out = tmp_path / "dev"
    assert run(capsys, "device-files", "--board", "esp32-4mb", "--py", "-o", out).code == 0  # the legacy layout
    assert (out / "lib" / "mpboot_fw" / "stage.py").exists()
    (out / "bundles" / "myapp" / "a").mkdir(parents=True)
    (out / "bundles" / "myapp" / "a" / "old.py").write_text("an earlier release's file")
    fails(capsys, "device-files", "--board", "esp32-4mb", "--py", "--root", kd / "root.json", "--key",
          kd / "release.pem", "-o", out, match="already holds boot.py")
    r = run(capsys, "device-files", "--board", "esp32-4mb", "--py", "--root", kd / "root.json", "--key",
            kd / "release.pem", "--bundle", kd / "myapp.mpbundle", "--bundle", kd / "lib2.mpbundle", "-o", out,
            "--force")
    assert r.code == 0, r.err
    assert r.out.strip().endswith("(boot.py, bundles/mpboot/a/ as source, mpboot.json, bundle myapp, bundle sensors)")
    files = tree(out)
    # No lib/mpboot_fw (the earlier run's is gone too), the fixed loader and the starter, and
    # each bundle as layout() lays it out: nothing else in a copy's directory.
    assert not any(p.startswith("/lib/") for p in files), sorted(files)
    assert files["/boot.py"] == resources.boot_py() and files["/main.py"] == resources.main_py()
    board = boards.load_board("esp32-4mb")
    for name in ("myapp.mpbundle", "lib2.mpbundle"):
        _, laid = bundle.layout((kd / name).read_bytes(), bootstage.TRUSTED, board)
        assert all(files[p] == v for p, v in laid.items())
    package = fmt.load_manifest(files["/bundles/mpboot/a.mpbm"], bootstage.TRUSTED, name="mpboot")
    assert [p for p, _, _ in package.files] == ["mpboot_fw/" + n for n in package_names()]
    assert sorted(p for p in files if p.startswith("/bundles/mpboot/a/")) == \
        ["/bundles/mpboot/a/mpboot_fw/" + n for n in package_names()]
    assert sorted(p for p in files if p.startswith("/bundles/myapp/")) == [
        "/bundles/myapp/a.mpbm", "/bundles/myapp/a/lib/util.py", "/bundles/myapp/a/main.py", "/bundles/myapp/boot"]
    assert {files["/bundles/%s/boot" % n] for n in ("mpboot", "myapp", "sensors")} == {b"a"}
    assert set(files) - {p for p in files if p.startswith("/bundles/")} == {"/boot.py", "/main.py", "/mpboot.json"}
    # A package bundle made beforehand is the same, given as a file.
    package_file = tmp_path / "mpboot.mpbundle"
    assert run(capsys, "bundle", "--device-package", "--key", kd / "release.pem", "-o", package_file).code == 0
    r = run(capsys, "device-files", "--board", "esp32-4mb", "--py", "--root", kd / "root.json", "--package-bundle",
            package_file, "-o", tmp_path / "dev2", "--json")
    assert r.code == 0 and json.loads(r.out)["bundles"] == ["mpboot"], r.err
    again = tree(tmp_path / "dev2")
    assert again["/bundles/mpboot/a.mpbm"] == files["/bundles/mpboot/a.mpbm"]  # Ed25519: the same signature
    assert sorted(again) == sorted(p for p in files if not p.startswith(("/bundles/myapp", "/bundles/sensors")))


def test_device_files_app_bundles_in_the_legacy_layout(kd, tmp_path, capsys):
    out = tmp_path / "dev"
    r = run(capsys, "device-files", "--board", "esp32-4mb", "--py", "--root", kd / "root.json", "--bundle",
            kd / "myapp.mpbundle", "-o", out)
    assert r.code == 0, r.err
    files = tree(out)
    assert "/lib/mpboot_fw/stage.py" in files and "/bundles/mpboot/boot" not in files
    assert files["/bundles/myapp/boot"] == b"a" and files["/main.py"] == resources.main_py()
    # over an earlier run with the package as a bundle: that goes, or the loader would run it
    assert run(capsys, "device-files", "--board", "esp32-4mb", "--py", "--root", kd / "root.json", "--package-bundle",
               kd / "mpboot.mpbundle", "-o", out, "--force").code == 0
    assert "/bundles/mpboot/boot" in tree(out) and not (out / "lib" / "mpboot_fw").exists()
    assert run(capsys, "device-files", "--board", "esp32-4mb", "--py", "-o", out, "--force").code == 0
    files = tree(out)
    assert "/lib/mpboot_fw/stage.py" in files and not (out / "bundles" / "mpboot").exists()
    assert files["/bundles/myapp/boot"] == b"a"  # not this run's: left as it was


@pytest.mark.parametrize("extra,message", [
    (("--bundle", "stranger.mpbundle"), "stranger.mpbundle: invalid bundle: signature-threshold"),
    (("--bundle", "other-board.mpbundle"), "other-board.mpbundle: invalid bundle: wrong-chip (made for another chip)"),
    (("--bundle", "tampered.mpbundle"), "tampered.mpbundle: invalid bundle: file-hash: main.py"),
    (("--bundle", "myapp.mpbundle", "--bundle", "same-name.mpbundle"), "are both the bundle myapp"),
    (("--bundle", "big.mpbundle", "--bundle", "big2.mpbundle"), "do not fit the 917504-byte vfs partition"),
    (("--key", "missing.pem"), "missing.pem"),
    (("--key", "stranger.pem"), "not signed by enough trusted keys"),
    (("--package-bundle", "myapp.mpbundle"), "is the bundle myapp, not mpboot's device package"),
    (("--bundle", "mpboot.mpbundle"), "is mpboot's device package: give it as --package-bundle"),
    (("--bundle", "myapp.mpbundle", "--app", "app"), "your files hold /main.py"),
    (("--bundle", "missing.mpbundle"), "not found"),
    (("--bundle", "myapp.mpbundle", "--mpy-version", "6.2"), None),  # source bundles fit any .mpy version
    (("--bundle", "mpy5.mpbundle", "--mpy-version", "6.3"), "wrong-mpy: needs .mpy 5, the firmware imports 6"),
])
def test_device_files_refuses_each_bad_input(kd, tmp_path, capsys, extra, message):
    args = ["device-files", "--board", "esp32-4mb", "--root", kd / "root.json", "-o", tmp_path / "dev"]
    args += [kd / a if a.endswith((".mpbundle", ".pem")) or a == "app" else a for a in extra]
    if "--mpy-version" not in extra:
        args.append("--py")
    if message is None:
        assert run(capsys, *args).code == 0
        return
    fails(capsys, *args, match=message)
    assert not (tmp_path / "dev").exists()


def test_bundles_need_the_root(kd, tmp_path, capsys):
    for option, value in (("--bundle", "myapp.mpbundle"), ("--key", "release.pem"),
                          ("--package-bundle", "myapp.mpbundle")):
        fails(capsys, "device-files", "--board", "esp32-4mb", option, kd / value, "-o", tmp_path / "d",
              match="%s needs --root ROOT.json" % option)
    fails(capsys, "flash-image", "--board", "esp32-4mb", "--app", tmp_path / "x", "--bundle", kd / "myapp.mpbundle",
          "-o", tmp_path / "f.bin", match="--bundle needs --root ROOT.json")
    assert not (tmp_path / "d").exists()


@pytest.fixture(scope="module")
def image(kd):
    path = kd / "image.mpb"
    path.write_bytes(bootstage.signed("1.0.0", 1))
    return path


def flash_image(kd, image, tmp_path, capsys, *extra):
    out = tmp_path / "flash.bin"
    r = run(capsys, "flash-image", "--board", "esp32-4mb", "--app", image, "--firmware", micropython_firmware(),
            "--root", kd / "root.json", "-o", out, *extra)
    return r, out


def vfs_files(out):
    vfs = boards.load_board("esp32-4mb").partition("vfs")
    return read_files(mount(bytearray(out.read_bytes()[vfs.offset:vfs.end])))[1]


def test_flash_image_bundles(kd, image, tmp_path, capsys):
    r, out = flash_image(kd, image, tmp_path, capsys, "--bundle", kd / "myapp.mpbundle", "--bundle",
                         kd / "lib2.mpbundle")
    assert r.code == 0, r.err
    files = vfs_files(out)
    board = boards.load_board("esp32-4mb")
    want = {}
    for name in ("myapp.mpbundle", "lib2.mpbundle"):
        want.update(bundle.layout((kd / name).read_bytes(), bootstage.TRUSTED, board)[1])
    assert files == want  # without --files: the bundles alone
    out.unlink()
    for extra, message in [
        (("--bundle", kd / "stranger.mpbundle"), "stranger.mpbundle: invalid bundle: signature-threshold"),
        (("--bundle", kd / "myapp.mpbundle", "--bundle", kd / "same-name.mpbundle"), "both the bundle myapp"),
        (("--bundle", kd / "big.mpbundle", "--bundle", kd / "big2.mpbundle"), "do not fit the 917504-byte vfs"),
        (("--bundle", kd / "newer.mpbundle"), "newer.mpbundle: invalid bundle: needs-firmware: firmware 2.0.0 or newer"),
    ]:
        r, out = flash_image(kd, image, tmp_path, capsys, *extra)
        assert r.code == 1 and r.err.count("\n") == 1 and message in r.err, r.err
        assert not out.exists()
    # a bundle that --files already holds
    dev = tmp_path / "dev"
    assert run(capsys, "device-files", "--board", "esp32-4mb", "--py", "--root", kd / "root.json", "--bundle",
               kd / "myapp.mpbundle", "-o", dev).code == 0
    r, out = flash_image(kd, image, tmp_path, capsys, "--files", dev, "--bundle", kd / "same-name.mpbundle")
    assert r.code == 1 and "the files already hold the bundle myapp (/bundles/myapp/a.mpbm)" in r.err, r.err


def boot_with(kd, image, tmp_path, capsys, app_bundle):
    """Boot a flash image made by flash-image from device-files --key (the package as the
    bundle mpboot) and --bundle `app_bundle`; returns the boot record and the vfs files."""
    dev = tmp_path / "dev"
    assert run(capsys, "device-files", "--board", "esp32-4mb", "--root", kd / "root.json", "--key",
               kd / "release.pem", "-o", dev).code == 0
    r, out = flash_image(kd, image, tmp_path, capsys, "--files", dev, "--bundle", app_bundle)
    assert r.code == 0, r.err
    files = vfs_files(out)
    with Board(str(out), "esp32-4mb", run_timeout=20) as board:
        record = board.boot(repl="from mpboot_fw import stage\nprint('FROM', stage.__file__)")
    assert record.outcome == "ok", record.text
    stage = [line for line in record.output if line.startswith("mpboot: ")]
    assert stage and stage[0].endswith(": ota_0 1.0.0 sv1 verified"), record.text
    # The fixed loader ran the package from its bundle's copy a.
    assert "FROM /bundles/mpboot/a/mpboot_fw/stage.mpy" in record.output, record.text
    return record, files


def test_flash_image_with_a_bundle_boots_on_the_emulated_board(kd, image, tmp_path, capsys):
    record, files = boot_with(kd, image, tmp_path, capsys, kd / "entry-app.mpbundle")
    assert files["/bundles/myapp/boot"] == b"a" and files["/bundles/myapp/a/app.py"] == APP_MAIN.encode()
    assert files["/bundles/mpboot/boot"] == b"a" and "/bundles/mpboot/a/mpboot_fw/stage.mpy" in files
    # The stage verified the app's copy, and /main.py (the starter) started its entry point.
    assert "BUNDLE APP 1.0.0" in record.output, record.text


def test_an_app_whose_entry_is_main_starts(kd, image, tmp_path, capsys):
    record, files = boot_with(kd, image, tmp_path, capsys, kd / "myapp.mpbundle")
    assert files["/bundles/myapp/a/main.py"] == APP_MAIN.encode()
    assert "BUNDLE APP 1.0.0" in record.output, record.text


def test_help_shows_the_bundle_examples(capsys):
    for command, example in (("device-files", "--key release.pem --bundle myapp-1.0.0.mpbundle"),
                             ("flash-image", "--bundle myapp-1.0.0.mpbundle"),
                             ("bundle", "mpboot bundle --device-package"),
                             ("provision", "--key release.pem --bundle myapp-1.0.0.mpbundle")):
        r = run(capsys, command, "--help")
        assert r.code == 0 and example in r.out, (command, r.out)
    assert "Without these options the layout is the legacy one" in run(capsys, "device-files", "--help").out


def test_device_files_signs_the_package_in_a_token(token, capsys, tmp_path):  # noqa: F811 (fixture)
    """--key takes a pkcs11: URI as every signing command does: an ECDSA targets key in SoftHSM2."""
    from test_hsm import root_with_token_keys

    root_file = root_with_token_keys(capsys, token, tmp_path, "ecdsa")
    r = run(capsys, "device-files", "--board", "esp32-4mb", "--py", "--root", root_file, "--key", token.uri("targets"),
            "-o", tmp_path / "dev")
    assert r.code == 0, r.err
    manifest = (tmp_path / "dev" / "bundles" / "mpboot" / "a.mpbm").read_bytes()
    b = fmt.load_manifest(manifest, fmt.trust.load_root(root_file.read_bytes()), name="mpboot")
    assert b.keyids == list(fmt.trust.load_root(root_file.read_bytes()).roles["targets"][0])
    fails(capsys, "device-files", "--board", "esp32-4mb", "--py", "--root", root_file, "--key",
          token.uri("no-such-key"), "-o", tmp_path / "dev2", match="no-such-key")
    assert not (tmp_path / "dev2").exists()
