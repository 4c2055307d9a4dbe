"""mpboot sign / verify / inspect end to end: the real MicroPython firmware, esptool as the oracle
for the ESP-IDF side, and every bad input with one error line, exit 1 and no output file."""

import json
import os
import subprocess
import sys
import tracemalloc

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from securesystemslib.signer import SSlibKey
from esptool.bin_image import LoadFirmwareImage

import appbuilder
from clihelp import fails, run
from mpboot import anchor, cli
from mpboot_fw import image, trust
from mpboot_fw.blockdev import BytesDevice
from realfirmware import APP_OFFSET, micropython_app, micropython_firmware
from test_appimage_esptool import field, image_info


@pytest.fixture(scope="module")
def kd(tmp_path_factory):
    """Keys, two roots and a small signed image, made once through the CLI."""
    d = tmp_path_factory.mktemp("keys")

    def ok(*argv):
        assert cli.main([str(a) for a in argv]) == 0

    for name in ("t1", "t2", "other"):
        ok("keygen", d / (name + ".pem"))
    ok("keygen", d / "root.pem")
    ok("root", "init", d / "root.json", "--root-key", d / "root.pem", "--targets-key", d / "t1.pem.pub")
    ok("root", "init", d / "root2.json", "--root-key", d / "root.pem", "--targets-key", d / "t1.pem.pub",
       "--targets-key", d / "t2.pem.pub", "--targets-threshold", 2)
    (d / "app.bin").write_bytes(appbuilder.build(version="small", data_segments=(1000, 2000)))
    ok("sign", "--key", d / "t1.pem", "--version", "1.0.0", "--security-version", 1, "--board", "esp32-4mb",
       d / "app.bin", "-o", d / "small.mpb")
    return d


def sign_args(kd, src, out, *extra, key="t1.pem", board="esp32-4mb"):
    return ("sign", "--key", kd / key, "--version", "1.0.0", "--security-version", 1, "--board", board,
            src, "-o", out) + extra


def esptool_info(path, chip="esp32"):
    return image_info(path.parent, path.read_bytes(), chip)


# -- the round trip on real firmware ------------------------------------------------------------

def test_real_merged_firmware_round_trip(kd, tmp_path, capsys):
    out = tmp_path / "fw.mpb"
    r = run(capsys, *sign_args(kd, micropython_firmware(), out, "--root", kd / "root.json", "--json"))
    assert r.code == 0, r.err
    summary = json.loads(r.out)
    data = out.read_bytes()
    # The app is cut out exactly where esptool finds it, and kept byte for byte at offset 0.
    oracle = LoadFirmwareImage("esp32", micropython_app())
    app_len = oracle.data_length + 32
    assert summary["payload_len"] == app_len
    assert data[:app_len] == micropython_firmware().read_bytes()[APP_OFFSET:APP_OFFSET + app_len]
    assert "partition factory at 0x10000" in summary["source"]
    # esptool still reads the signed file as a valid, bootable app image.
    info = esptool_info(out)
    assert field(info, "Checksum").endswith("(valid)")
    assert field(info, "Validation hash").endswith("(valid)")
    r = run(capsys, "verify", "--root", kd / "root.json", "--board", "esp32-4mb", out)
    assert r.code == 0 and "valid: version 1.0.0, security version 1, board esp32-4mb" in r.out
    insp = json.loads(run(capsys, "inspect", out, "--root", kd / "root.json", "--json").out)
    assert insp["kind"] == "signed image" and insp["verdict"] == {"valid": True}
    assert insp["manifest"]["payload_sha256_matches"] and insp["app_checks"]["valid"]
    assert insp["app"]["descriptor"]["idf_ver"] == field(info, "ESP-IDF")
    assert insp["layout"]["secure_boot_sector_state"] == "empty"
    assert [s["status"] for s in insp["signatures"]] == ["valid"]


def test_the_bare_app_signs_to_the_same_payload(kd, tmp_path, capsys):
    (tmp_path / "app.bin").write_bytes(micropython_app())
    assert run(capsys, *sign_args(kd, tmp_path / "app.bin", tmp_path / "a.mpb")).code == 0
    assert run(capsys, *sign_args(kd, micropython_firmware(), tmp_path / "b.mpb")).code == 0
    a = image.read_manifest(BytesDevice((tmp_path / "a.mpb").read_bytes()))
    b = image.read_manifest(BytesDevice((tmp_path / "b.mpb").read_bytes()))
    assert a.payload_sha256 == b.payload_sha256 and a.length == b.length


def test_verify_slot_memory_on_the_real_firmware(kd, tmp_path, capsys):
    # CPython objects are larger than MicroPython's, so this over-estimates the device's peak.
    out = tmp_path / "fw.mpb"
    run(capsys, *sign_args(kd, micropython_firmware(), out))
    dev = BytesDevice(out.read_bytes())
    root = trust.load_root((kd / "root.json").read_bytes())
    tracemalloc.start()
    image.verify_slot(dev, root, chip_id=0)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 32 * 1024, peak


def test_secure_boot_v2_sector_fits_the_reserved_space(kd, tmp_path, capsys):
    # espsecure, the real Secure Boot v2 signer, pads the app to 4 KiB and appends its 4 KiB
    # signature sector exactly where a signed image reserves 0xFF; mpboot sign keeps it.
    key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    (tmp_path / "sbv2.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()))
    app = (kd / "app.bin").read_bytes()
    espsecure = [sys.executable, "-m", "espsecure"]
    subprocess.run(espsecure + ["sign-data", "--version", "2", "--keyfile", str(tmp_path / "sbv2.pem"),
                                "--output", str(tmp_path / "sb.bin"), str(kd / "app.bin")], check=True, capture_output=True)
    sb = (tmp_path / "sb.bin").read_bytes()
    m = image.manifest_offset(len(app))
    assert len(sb) == m and sb[:len(app)] == app
    out = tmp_path / "sb.mpb"
    assert run(capsys, *sign_args(kd, tmp_path / "sb.bin", out)).code == 0
    data = out.read_bytes()
    assert data[:m] == sb and len(data) == len((kd / "small.mpb").read_bytes())
    assert run(capsys, "verify", "--root", kd / "root.json", out).code == 0
    insp = json.loads(run(capsys, "inspect", out, "--json").out)
    assert insp["layout"]["secure_boot_sector_state"] == "Secure Boot v2 signature block"
    # What the ESP-IDF bootloader checks under Secure Boot v2 is intact in the signed image.
    (tmp_path / "prefix.bin").write_bytes(data[:m])
    check = subprocess.run(espsecure + ["verify-signature", "--version", "2", "--keyfile", str(tmp_path / "sbv2.pem"),
                                        str(tmp_path / "prefix.bin")], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


# -- trust decisions ----------------------------------------------------------------------------

def test_thresholds_and_keys(kd, tmp_path, capsys):
    one = tmp_path / "one.mpb"
    two = tmp_path / "two.mpb"
    assert run(capsys, *sign_args(kd, kd / "app.bin", one)).code == 0
    assert run(capsys, *sign_args(kd, kd / "app.bin", two, "--key", kd / "t2.pem")).code == 0
    fails(capsys, "verify", "--root", kd / "root2.json", one, match="signature-threshold: 1 of 2 targets signatures")
    assert run(capsys, "verify", "--root", kd / "root2.json", two).code == 0
    assert run(capsys, "verify", "--root", kd / "root.json", two).code == 0  # T2's extra signature is harmless
    assert run(capsys, "verify", "--pubkey", kd / "t1.pem.pub", one).code == 0
    fails(capsys, "verify", "--pubkey", kd / "other.pem.pub", one, match="signature-threshold: 0 of 1")
    fails(capsys, "verify", "--root", kd / "root.json", tmp_path / "none.mpb", match="image not found")


def test_p256_key_files_sign_images_the_device_verifies(kd, tmp_path, capsys):
    """An ECDSA P-256 targets key beside an Ed25519 one: the manifest slot holds r || s over
    SHA-256 of the 128 signed bytes, which cryptography verifies too, and the device needs both
    signatures for a threshold of 2."""
    assert run(capsys, "keygen", tmp_path / "p256.pem", "--type", "ecdsa").code == 0
    root = tmp_path / "mixed.json"
    assert run(capsys, "root", "init", root, "--root-key", kd / "root.pem", "--targets-key", kd / "t1.pem.pub",
               "--targets-key", tmp_path / "p256.pem.pub", "--targets-threshold", 2).code == 0
    both, p256_only = tmp_path / "both.mpb", tmp_path / "p256.mpb"
    assert run(capsys, *sign_args(kd, kd / "app.bin", both, "--key", tmp_path / "p256.pem", "--root", root)).code == 0
    assert run(capsys, *sign_args(kd, kd / "app.bin", p256_only, key=tmp_path / "p256.pem")).code == 0
    assert run(capsys, "verify", "--root", root, both).code == 0
    fails(capsys, "verify", "--root", root, p256_only, match="signature-threshold: 1 of 2 targets signatures")
    assert run(capsys, "verify", "--pubkey", tmp_path / "p256.pem.pub", p256_only).code == 0
    fails(capsys, "verify", "--pubkey", kd / "t1.pem.pub", p256_only, match="signature-threshold: 0 of 1")
    manifest = image.read_manifest(BytesDevice(p256_only.read_bytes()))
    (keyid, sig), = manifest.signatures
    public = serialization.load_pem_public_key((tmp_path / "p256.pem.pub").read_bytes())
    public.verify(encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")),
                  manifest.signed, ec.ECDSA(hashes.SHA256()))
    assert keyid == SSlibKey.from_crypto(public).keyid


def test_sign_with_root_refuses_a_key_the_root_does_not_trust(kd, tmp_path, capsys):
    out = tmp_path / "o.mpb"
    line = fails(capsys, *sign_args(kd, kd / "app.bin", out, "--root", kd / "root.json", key="other.pem"),
                 match="not written: the signed image would not verify")
    keyids, threshold = anchor.load_root_file(kd / "root.json").roles["targets"]
    assert line.endswith("sign with %d of its targets keys (keyids %s)" % (threshold, ", ".join(k[:16] for k in keyids)))
    fails(capsys, *sign_args(kd, kd / "app.bin", out, "--root", kd / "root2.json"), match="1 of 2 targets")
    assert not out.exists()


def test_board_chip_and_security_floor(kd, tmp_path, capsys):
    small = kd / "small.mpb"
    assert run(capsys, "verify", "--root", kd / "root.json", "--board", "esp32", small).code == 0
    fails(capsys, "verify", "--root", kd / "root.json", "--board", "esp32s3-8mb", small, match="wrong-chip")
    fails(capsys, "verify", "--root", kd / "root.json", "--security-floor", 2, small, match="downgrade")
    any_board = tmp_path / "any.mpb"
    assert run(capsys, *sign_args(kd, kd / "app.bin", any_board, board="esp32")).code == 0
    r = run(capsys, "verify", "--root", kd / "root.json", "--board", "esp32-4mb", any_board, "--json")
    assert r.code == 0 and json.loads(r.out)["board"] == ""


def test_verify_json_failure_is_one_object(kd, tmp_path, capsys):
    r = run(capsys, "verify", "--root", kd / "root.json", "--security-floor", 9, kd / "small.mpb", "--json")
    assert r.code == 1 and r.err == ""
    assert json.loads(r.out) == {"valid": False, "reason": "downgrade", "error": "downgrade"}


# -- bad images for verify ----------------------------------------------------------------------

def _variants(data, app_len):
    m = image.manifest_offset(app_len)

    def flip(offset):
        out = bytearray(data)
        out[offset] ^= 0x40
        return bytes(out)

    return {
        "empty": (b"", "truncated"),
        "one byte": (data[:1], "truncated"),
        "cut in the app": (data[:app_len // 2], "truncated"),
        "cut before the manifest": (data[:m], "truncated"),
        "cut in the signatures": (data[:-10], "truncated"),
        "text file": (b"hello, I am not firmware\n" * 400, "bad-app"),
        "erased flash": (b"\xff" * 16384, "bad-app"),
        "unsigned app": (data[:app_len], "truncated"),
        "unsigned app in an erased slot": (data[:app_len] + b"\xff" * 8192, "bad-magic"),
        "wrong magic": (data[:m] + b"XPB1" + data[m + 4:], "bad-magic"),
        "tampered payload": (flip(app_len // 2), "payload-hash"),
        "tampered manifest": (flip(m + 92), "signature-threshold"),
        "tampered signature": (flip(len(data) - 1), "signature-threshold"),
    }


@pytest.mark.parametrize("case", list(_variants(b"\x00" * 20000, 4096)))
def test_every_bad_image_fails_verify_with_its_reason(kd, tmp_path, capsys, case):
    data = (kd / "small.mpb").read_bytes()
    app_len = len((kd / "app.bin").read_bytes())
    bad, reason = _variants(data, app_len)[case]
    path = tmp_path / "bad.mpb"
    path.write_bytes(bad)
    line = fails(capsys, "verify", "--root", kd / "root.json", path)
    assert "invalid image: " + reason in line, line


def test_a_directory_is_not_an_image(kd, tmp_path, capsys):
    fails(capsys, "verify", "--root", kd / "root.json", tmp_path, match="is a directory")


# -- bad input for sign -------------------------------------------------------------------------

def _corrupt(data, offset):
    out = bytearray(data)
    out[offset] ^= 0x01
    return bytes(out)


def test_sign_refuses_what_esptool_calls_invalid(kd, tmp_path, capsys):
    app = (kd / "app.bin").read_bytes()
    oracle = LoadFirmwareImage("esp32", app)
    cases = {
        "checksum": (_corrupt(app, oracle.segments[1].file_offs + 8 + 10), "Checksum"),
        "hash": (_corrupt(app, len(app) - 5), "Validation hash"),
    }
    for check, (bad, esptool_field) in cases.items():
        src = tmp_path / (check + ".bin")
        src.write_bytes(bad)
        assert "invalid" in field(esptool_info(src), esptool_field)
        fails(capsys, *sign_args(kd, src, tmp_path / "out.mpb"), match="(%s check failed)" % check)
    assert not (tmp_path / "out.mpb").exists()


def test_sign_refuses_an_image_for_another_chip(kd, tmp_path, capsys):
    src = tmp_path / "c3.bin"
    src.write_bytes(appbuilder.build(chip_id=5))
    assert field(esptool_info(src, "esp32c3"), "Chip ID").startswith("5")
    fails(capsys, *sign_args(kd, src, tmp_path / "o.mpb"), match="is built for esp32c3, not esp32")
    assert run(capsys, *sign_args(kd, src, tmp_path / "o.mpb", board="esp32c3-4mb")).code == 0


@pytest.mark.parametrize("case", [
    "empty", "truncated app", "text file", "signed image", "unknown board", "long version",
    "empty version", "not a version", "larger than the slot", "larger than any board's slot",
    "security version too big", "negative security version", "public key", "missing key",
    "wrong passphrase", "no passphrase", "missing output dir", "output under a file", "missing input",
])
def test_sign_bad_input_writes_nothing(kd, tmp_path, capsys, monkeypatch, case):
    app = (kd / "app.bin").read_bytes()
    monkeypatch.setenv("PASS", "right")
    if not (kd / "locked.pem").exists():
        assert run(capsys, "keygen", kd / "locked.pem", "--passphrase-env", "PASS").code == 0
    src = tmp_path / "in.bin"
    out = tmp_path / "out.mpb"
    src.write_bytes(app)
    args = list(sign_args(kd, src, out))
    expected = {
        "empty": "is empty",
        "truncated app": "image too long check failed",
        "text file": "magic check failed",
        "signed image": "already a signed image",
        "unknown board": "unknown board or chip 'esp32-99mb'",
        "long version": "is not a release version: use Semantic Versioning",
        "empty version": "--version '' is not a release version",
        "larger than the slot": "larger than the 1572864-byte app slot of board esp32-4mb: no device could install",
        "larger than any board's slot": "larger than the 1572864-byte app slot of board esp32-4mb",
        "not a version": "--version 'not a version!' is not a release version",
        "security version too big": "--security-version must be between 0 and 4294967295",
        "negative security version": "--security-version must be between",
        "public key": "is a public key",
        "missing key": "key file not found",
        "wrong passphrase": "wrong passphrase",
        "no passphrase": "is encrypted",
        "missing output dir": "cannot write",
        "output under a file": "cannot write",
        "missing input": "input file not found",
    }[case]
    if case == "empty":
        src.write_bytes(b"")
    elif case == "truncated app":
        src.write_bytes(app[:-100])
    elif case == "text file":
        src.write_text("not firmware\n" * 100)
    elif case == "signed image":
        src.write_bytes((kd / "small.mpb").read_bytes())
    elif case == "unknown board":
        args[args.index("esp32-4mb")] = "esp32-99mb"
    elif case == "long version":
        args[args.index("1.0.0")] = "v" * 33
    elif case in ("larger than the slot", "larger than any board's slot"):
        # A valid app that fits the slot by itself, but not with mpboot's sector and manifest.
        src.write_bytes(appbuilder.build(data_segments=(0x180000 - 0x2000,)))
        if case == "larger than any board's slot":
            args[args.index("esp32-4mb")] = "esp32"  # chip-wide: every esp32 board must take it
    elif case == "empty version":
        args[args.index("1.0.0")] = ""
    elif case == "not a version":
        args[args.index("1.0.0")] = "not a version!"
    elif case == "security version too big":
        args[args.index(1)] = 2**32
    elif case == "negative security version":
        args[args.index(1)] = -1
    elif case == "public key":
        args[2] = kd / "t1.pem.pub"
    elif case == "missing key":
        args[2] = kd / "nope.pem"
    elif case in ("wrong passphrase", "no passphrase"):
        args[2] = kd / "locked.pem"
        if case == "wrong passphrase":
            monkeypatch.setenv("WRONG", "wrong")
            args += ["--passphrase-env", "WRONG"]
    elif case == "missing output dir":
        out = tmp_path / "no" / "out.mpb"
    elif case == "output under a file":
        out = src / "out.mpb"
    elif case == "missing input":
        src.unlink()
    args[args.index(tmp_path / "out.mpb")] = out
    fails(capsys, *args, match=expected)
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name != "in.bin"] == []


def test_sign_with_an_encrypted_key(kd, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PASS", "right")
    if not (kd / "locked.pem").exists():
        assert run(capsys, "keygen", kd / "locked.pem", "--passphrase-env", "PASS").code == 0
    out = tmp_path / "o.mpb"
    assert run(capsys, *sign_args(kd, kd / "app.bin", out, "--passphrase-env", "PASS", key="locked.pem")).code == 0
    assert run(capsys, "verify", "--pubkey", kd / "locked.pem.pub", out).code == 0


def test_a_disk_error_while_writing_the_image_leaves_nothing(kd, tmp_path, capsys, monkeypatch):
    def no_space(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)
    fails(capsys, *sign_args(kd, kd / "app.bin", tmp_path / "o.mpb"), match="No space left on device")
    assert list(tmp_path.iterdir()) == []


def test_sign_twice_with_one_key_is_refused(kd, tmp_path, capsys):
    fails(capsys, *sign_args(kd, kd / "app.bin", tmp_path / "o.mpb", "--key", kd / "t1.pem"),
          match="the same key is given twice")


# -- inspect ------------------------------------------------------------------------------------

def test_inspect_text_shows_every_part(kd, capsys):
    r = run(capsys, "inspect", kd / "small.mpb", "--pubkey", kd / "t1.pem.pub")
    assert r.code == 0, r.err
    for text in ("signed image", "project 'mpboot-test' version 'small'", "segment 2: load 0x3ffb03e8",
                 "checksum 0x", "appended SHA-256 valid", "manifest (format 1) at 0x2000",
                 "security version 1, board esp32-4mb", "(matches)", "Secure Boot v2 sector 0x1000-0x2000 (empty)",
                 "(valid)", "verdict: valid"):
        assert text in r.out, text


def test_inspect_reports_damage_without_refusing(kd, tmp_path, capsys):
    data = bytearray((kd / "small.mpb").read_bytes())
    data[100] ^= 1
    path = tmp_path / "bad.mpb"
    path.write_bytes(bytes(data))
    info = json.loads(run(capsys, "inspect", path, "--root", kd / "root.json", "--json").out)
    assert not info["manifest"]["payload_sha256_matches"]
    assert info["verdict"]["reason"] == "payload-hash"
    assert run(capsys, "inspect", kd / "app.bin").out.rstrip().endswith("manifest: none (not signed)")
    path.write_bytes(b"\x00" * 5000)
    fails(capsys, "inspect", path, match="%s is not an ESP-IDF app image, merged firmware or mpboot signed image" % path)


def test_every_command_has_examples_in_its_help(capsys):
    for argv in (["keygen"], ["root", "init"], ["sign"], ["verify"], ["inspect"]):
        r = run(capsys, *argv, "--help")
        assert r.code == 0 and "examples:" in r.out, argv
