"""Releases signed twice: `espsecure sign-data --version 2` (the real espsecure of the pinned
esptool, with RSA-3072 and ECDSA keys it generates), then `mpboot sign`. espsecure is the oracle:
it verifies the part `mpboot inspect --extract-app` writes, its key digests are the ones
`inspect` reports, and it refuses what `inspect` calls invalid."""

import contextlib
import hashlib
import io
import json
import random
import struct
import zlib

import espsecure as espsecure_module
import pytest
from esptool import FatalError

import appbuilder
from clihelp import fails, run
from mpboot_fw import image

BLOCK = 1216


class Completed:
    def __init__(self, returncode, stdout):
        self.returncode, self.stdout = returncode, stdout


def espsecure(*argv):
    """espsecure's command line, run in this process (its entry point, as `espsecure ARGS` runs
    it, minus a second of interpreter start per call): exit status and output."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            espsecure_module.main([str(a) for a in argv])
            code = 0
        except SystemExit as e:
            code = e.code
        except FatalError as e:  # `espsecure` prints it and exits 2
            print(e)
            code = 2
        except AssertionError as e:  # its unchecked asserts (an unknown ECDSA curve): a traceback, exit 1
            print(repr(e))
            code = 1
    return Completed(code, out.getvalue())


def espsecure_ok(*argv):
    r = espsecure(*argv)
    assert r.returncode == 0, r.stdout
    return r


@pytest.fixture(scope="module")
def sb(tmp_path_factory):
    """Keys, espsecure-signed apps and their double-signed images, made once."""
    d = tmp_path_factory.mktemp("sbv2")
    (d / "app.bin").write_bytes(appbuilder.build(version="sbv2", data_segments=(1000, 2000)))
    (d / "other.bin").write_bytes(appbuilder.build(version="other", data_segments=(1500, 2500), seed=7))
    for name, scheme in (("rsa1", "rsa3072"), ("rsa2", "rsa3072"), ("ec", "ecdsa256"), ("p384", "ecdsa384")):
        espsecure_ok("generate-signing-key", "--version", "2", "--scheme", scheme, d / (name + ".pem"))
        espsecure_ok("digest-sbv2-public-key", "--keyfile", d / (name + ".pem"), "--output", d / (name + ".digest"))
    # Two RSA blocks (ESP32-S3/C3 take up to three), one ECDSA-P256 block, one ECDSA-P384 block,
    # and an RSA block made for another app.
    for out, app, keys in (("rsa", "app", ("rsa1", "rsa2")), ("ec", "app", ("ec",)), ("p384", "app", ("p384",)),
                           ("other", "other", ("rsa1",))):
        espsecure_ok("sign-data", "--version", "2", "--keyfile", *[d / (k + ".pem") for k in keys],
                     "--output", d / (out + ".sb.bin"), d / (app + ".bin"))
    assert run_cli("keygen", d / "t.pem") == 0
    for name, src in (("rsa", "rsa.sb.bin"), ("ec", "ec.sb.bin"), ("p384", "p384.sb.bin"), ("plain", "app.bin")):
        assert run_cli("sign", "--key", d / "t.pem", "--version", "1.0.0", "--security-version", 1,
                       "--board", "esp32-4mb", d / src, "-o", d / (name + ".mpb")) == 0
    return d


def run_cli(*argv):
    from mpboot import cli

    return cli.main([str(a) for a in argv])


def sector_at(sb):
    return image.manifest_offset(len((sb / "app.bin").read_bytes())) - image.SECTOR


def inspect_json(capsys, path):
    r = run(capsys, "inspect", path, "--json")
    assert r.code == 0 and r.err == "", r.err
    return json.loads(r.out)


# -- the round trip -----------------------------------------------------------------------------

@pytest.mark.parametrize("name, keys", [("rsa", ("rsa1", "rsa2")), ("ec", ("ec",))])
def test_espsecure_verifies_the_part_inspect_extracts(sb, tmp_path, capsys, name, keys):
    mpb = sb / (name + ".mpb")
    assert run(capsys, "verify", "--pubkey", sb / "t.pem.pub", mpb).code == 0
    # The reason for --extract-app: espsecure takes the last 4 KiB of its input as the sector.
    assert espsecure("verify-signature", "--version", "2", "--keyfile", sb / (keys[0] + ".pem"), mpb).returncode != 0
    out = tmp_path / "part.bin"
    r = run(capsys, "inspect", mpb, "--extract-app", out)
    assert r.code == 0, r.err
    assert "wrote %s: the first %d bytes" % (out, sector_at(sb) + image.SECTOR) in r.out
    assert out.read_bytes() == (sb / (name + ".sb.bin")).read_bytes()  # byte for byte what espsecure signed
    for key in keys:
        espsecure_ok("verify-signature", "--version", "2", "--keyfile", sb / (key + ".pem"), out)
    info = json.loads(run(capsys, "inspect", mpb, "--json", "--extract-app", tmp_path / "again.bin").out)
    assert info["extracted"] == {"path": str(tmp_path / "again.bin"), "length": out.stat().st_size}


@pytest.mark.parametrize("name, keys, scheme", [
    ("rsa", ("rsa1", "rsa2"), "RSA-3072"), ("ec", ("ec",), "ECDSA-P256"), ("p384", ("p384",), "ECDSA-P384")])
def test_inspect_checks_each_block(sb, capsys, name, keys, scheme):
    a = sector_at(sb)
    padded = (sb / (name + ".sb.bin")).read_bytes()[:a]
    digest = (hashlib.sha384 if scheme == "ECDSA-P384" else hashlib.sha256)(padded).hexdigest()
    for path in (sb / (name + ".mpb"), sb / (name + ".sb.bin")):  # double-signed, and espsecure's output alone
        sbv2 = inspect_json(capsys, path)["secure_boot_v2"]
        assert sbv2["state"] == "signature blocks" and sbv2["sector"] == [a, a + image.SECTOR]
        assert sbv2["valid_blocks"] == len(keys)
        for i, (block, key) in enumerate(zip(sbv2["blocks"], keys, strict=True)):
            assert block["index"] == i and block["offset"] == a + i * BLOCK
            assert block["scheme"] == scheme and block["verdict"] == "valid" and block["error"] is None
            assert block["crc_valid"] and block["image_digest"] == digest and block["image_digest_matches"]
            assert block["key_digest"] == (sb / (key + ".digest")).read_bytes().hex()  # what eFuse holds
    text = run(capsys, "inspect", sb / (name + ".mpb")).out
    assert "Secure Boot v2 sector 0x%x-0x%x: %d block(s), %d valid" % (a, a + image.SECTOR, len(keys), len(keys)) in text
    for i, key in enumerate(keys):
        assert "  block %d: %s, key digest %s: valid" % (i, scheme, (sb / (key + ".digest")).read_bytes().hex()) in text


def test_verify_reports_the_secure_boot_signature_without_requiring_it(sb, capsys):
    r = run(capsys, "verify", "--pubkey", sb / "t.pem.pub", sb / "rsa.mpb")
    assert r.code == 0
    assert "2 block(s), 2 valid" in r.out and r.out.count(": valid") == 3
    report = json.loads(run(capsys, "verify", "--pubkey", sb / "t.pem.pub", sb / "ec.mpb", "--json").out)
    assert report["valid"] and report["secure_boot_v2"]["valid_blocks"] == 1
    assert report["secure_boot_v2"]["blocks"][0]["key_digest"] == (sb / "ec.digest").read_bytes().hex()
    plain = run(capsys, "verify", "--pubkey", sb / "t.pem.pub", sb / "plain.mpb")
    assert plain.code == 0 and plain.out.count("\n") == 1  # no espsecure signature: nothing more to say
    report = json.loads(run(capsys, "verify", "--pubkey", sb / "t.pem.pub", sb / "plain.mpb", "--json").out)
    assert report["secure_boot_v2"]["state"] == "empty" and report["secure_boot_v2"]["blocks"] == []


def test_an_empty_sector_is_reported_and_not_extracted(sb, tmp_path, capsys):
    info = inspect_json(capsys, sb / "plain.mpb")
    assert info["secure_boot_v2"]["state"] == "empty" and info["secure_boot_v2"]["blocks"] == []
    assert "Secure Boot v2 sector 0x1000-0x2000: empty" in run(capsys, "inspect", sb / "plain.mpb").out
    fails(capsys, "inspect", sb / "plain.mpb", "--extract-app", tmp_path / "x.bin",
          match="has no Secure Boot v2 signature to extract (its sector at 0x1000 is empty)")
    assert not (tmp_path / "x.bin").exists()
    bare = inspect_json(capsys, sb / "app.bin")["secure_boot_v2"]
    assert bare["state"] == "absent"


# -- bad blocks: a verdict each, never a traceback, and espsecure agrees ------------------------

def _with_block(data, a, edit, index=0, fix_crc=True):
    out = bytearray(data)
    block = bytearray(out[a + index * BLOCK:a + (index + 1) * BLOCK])
    edit(block)
    if fix_crc:
        struct.pack_into("<I", block, 1196, zlib.crc32(bytes(block[:1196])))
    out[a + index * BLOCK:a + (index + 1) * BLOCK] = block
    return bytes(out)


def _flip(offset):
    def edit(block):
        block[offset] ^= 0x10
    return edit


def _set(offset, value, *more):
    def edit(block):
        block[offset] = value
        for at, byte in zip(more[::2], more[1::2]):
            block[at] = byte
    return edit


# name: (image, edit or None, fix the CRC, the key espsecure is asked with, reason)
BAD = {
    "byte changed, CRC left": ("rsa", _flip(900), False, "rsa1", "bad-crc"),
    "wrong magic": ("rsa", _set(0, 0xE6), True, "rsa1", "bad-magic"),
    "unknown version": ("rsa", _set(1, 0x09), True, "rsa1", "bad-version"),
    "unknown ECDSA curve": ("ec", _set(36, 0x07), True, "ec", "bad-curve"),
    "P-256 key with SHA-384": ("ec", _set(2, 0x01, 52, 0x02), True, "ec", "bad-curve"),
    "block for another image": ("rsa", None, None, "rsa1", "digest-mismatch"),
    "RSA signature changed, CRC fixed": ("rsa", _flip(900), True, "rsa1", "bad-signature"),
    "ECDSA signature changed, CRC fixed": ("ec", _flip(120), True, "ec", "bad-signature"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_every_bad_block_gets_its_verdict(sb, tmp_path, capsys, case):
    name, edit, fix_crc, key, reason = BAD[case]
    a = sector_at(sb)
    data = (sb / (name + ".mpb")).read_bytes()
    if edit is None:  # the whole sector espsecure made for another app
        other = (sb / "other.sb.bin").read_bytes()
        data = data[:a] + other[-image.SECTOR:] + data[a + image.SECTOR:]
    else:
        data = _with_block(data, a, edit, fix_crc=fix_crc)
    bad = tmp_path / "bad.mpb"
    bad.write_bytes(data)
    sbv2 = inspect_json(capsys, bad)["secure_boot_v2"]
    assert sbv2["blocks"][0]["verdict"] == reason, sbv2["blocks"][0]
    assert sbv2["valid_blocks"] == (1 if name == "rsa" and edit is not None else 0)  # rsa2's block is intact
    r = run(capsys, "inspect", bad)
    assert r.code == 0 and "block 0: " in r.out and ": INVALID: %s (" % reason in r.out
    # mpboot's own signatures do not cover the sector: verify passes and reports the bad block.
    r = run(capsys, "verify", "--pubkey", sb / "t.pem.pub", bad)
    assert r.code == 0 and "INVALID: %s" % reason in r.out
    assert run(capsys, "inspect", bad, "--extract-app", tmp_path / "part.bin").code == 0
    check = espsecure("verify-signature", "--version", "2", "--keyfile", sb / (key + ".pem"), tmp_path / "part.bin")
    assert check.returncode != 0, check.stdout


@pytest.mark.parametrize("name, key, offset, why", [
    ("rsa", "rsa1", 200, "precomputed constants"),  # the modulus n (bytes 36..420)
    ("rsa", "rsa1", 500, "precomputed constants"),  # R^-1 mod n, used only by the chip's RSA peripheral
    ("ec", "ec", 50, "not on the curve"),  # the point's x (bytes 37..69)
])
def test_a_block_key_that_is_not_the_signers(sb, tmp_path, capsys, name, key, offset, why):
    # The chip checks a block with the key the block carries, once that key's digest matched
    # eFuse; espsecure verify-signature checks it with the key file it is given and never looks
    # at the block's key. So espsecure still accepts these blocks with the signer's key file,
    # and inspect, which checks the block as the chip does, refuses them.
    a = sector_at(sb)
    bad = tmp_path / "bad.mpb"
    bad.write_bytes(_with_block((sb / (name + ".mpb")).read_bytes(), a, _flip(offset)))
    block = inspect_json(capsys, bad)["secure_boot_v2"]["blocks"][0]
    assert block["verdict"] == "bad-key" and why in block["error"], block
    assert block["key_digest"] != (sb / (key + ".digest")).read_bytes().hex()
    assert run(capsys, "inspect", bad, "--extract-app", tmp_path / "part.bin").code == 0
    espsecure_ok("verify-signature", "--version", "2", "--keyfile", sb / (key + ".pem"), tmp_path / "part.bin")


def test_sectors_that_hold_no_block(sb, tmp_path, capsys):
    a = sector_at(sb)
    data = (sb / "rsa.mpb").read_bytes()
    zeros = tmp_path / "zeros.mpb"
    zeros.write_bytes(data[:a] + b"\x00" * image.SECTOR + data[a + image.SECTOR:])
    sbv2 = inspect_json(capsys, zeros)["secure_boot_v2"]
    assert [b["verdict"] for b in sbv2["blocks"]] == ["bad-magic"] * 3 and sbv2["valid_blocks"] == 0
    cut = tmp_path / "cut.mpb"
    cut.write_bytes(data[:a + 100])
    info = inspect_json(capsys, cut)
    assert info["secure_boot_v2"]["state"] == "truncated" and info["secure_boot_v2"]["blocks"] == []
    assert "Secure Boot v2 sector 0x1000-0x2000: TRUNCATED" in run(capsys, "inspect", cut).out
    fails(capsys, "inspect", cut, "--extract-app", tmp_path / "x.bin", match="is truncated")


def test_random_blocks_get_a_verdict_never_an_exception(sb, tmp_path, capsys):
    # Blocks that pass the magic and CRC checks with anything after them (known and unknown
    # schemes, curves, keys, digests): each gets one of the documented verdicts.
    from mpboot import imageinfo

    verdicts = {"bad-magic", "bad-crc", "bad-version", "bad-curve", "digest-mismatch", "bad-key", "bad-signature"}
    rng = random.Random(12)
    a = sector_at(sb)
    data = (sb / "rsa.mpb").read_bytes()
    digest = hashlib.sha256(data[:a]).digest()
    seen = set()
    for _ in range(150):
        block = bytearray(rng.randbytes(BLOCK))
        block[0], block[1], block[2] = 0xE7, rng.choice((2, 3, 3, 4)), rng.choice((0, 1, 2))
        block[36], block[52] = rng.choice((1, 2, 3, 9)), rng.choice((1, 2, 3, 9))
        if rng.random() < 0.5:  # the right image digest, so that the key and signature get checked
            block[4:36] = digest
        struct.pack_into("<I", block, 1196, zlib.crc32(bytes(block[:1196])))
        variant = data[:a] + bytes(block) + data[a + BLOCK:]
        verdict = imageinfo.inspect_bytes(variant)["secure_boot_v2"]["blocks"][0]["verdict"]
        assert verdict in verdicts, verdict
        seen.add(verdict)
    assert {"bad-version", "bad-curve", "digest-mismatch", "bad-key"} <= seen, seen
    (tmp_path / "last.mpb").write_bytes(variant)
    assert run(capsys, "inspect", tmp_path / "last.mpb").code == 0
