"""The ESP-IDF Secure Boot v2 signature sector of an image, checked with espsecure's own code.

Where it is: the ESP-IDF bootloader hashes the app padded with 0xFF to 4 KiB (A bytes) and reads
the signature sector at A (`esp_secure_boot_verify_signature`). A signed image keeps that sector
there, with the mpboot manifest after it. `espsecure verify-signature` instead takes the last
4 KiB of its input as the sector, so it needs the image's first A + 4 KiB bytes, not the .mpb
(`mpboot inspect --extract-app` writes them).

Each of the sector's three 1216-byte blocks holds magic 0xE7, version 2 (RSA-3072) or 3 (ECDSA),
the image digest, the public key, the signature and the CRC32 of its first 1196 bytes. The
signature is checked by `espsecure.verify_signature_v2` with the key the block carries, as the
chip does; whether the chip trusts that key is the eFuse's business, so the key digest it must
hold (`espsecure digest-sbv2-public-key`) is reported, never assumed.

espsecure is imported only when a sector holds something: it costs most of a second to load.
Every bad block gets a verdict, whatever its bytes; nothing here raises on one.
"""

import contextlib
import hashlib
import io
import struct
import zlib

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from mpboot_fw import image

BLOCK_SIZE = 1216
CRC_COVERS = 1196  # the CRC32 covers the block up to itself; 16 bytes of padding follow it
MAX_BLOCKS = 3
MAGIC = 0xE7
VERSION_RSA = 2
VERSION_ECDSA = 3
# ECDSA, by (hash version, curve id): name, curve, coordinate length, where the curve id and the
# key field sit (the digest ends there), the key field's length. espsecure writes P-192 and P-256
# with SHA-256 (hash version 0: digest 32 bytes, key field 64), P-384 with SHA-384 (1: 48, 96).
CURVES = {(0, 1): ("P192", ec.SECP192R1, 24, 36, 64), (0, 2): ("P256", ec.SECP256R1, 32, 36, 64),
          (1, 3): ("P384", ec.SECP384R1, 48, 52, 96)}
RSA_KEY = slice(36, 812)  # modulus, exponent, R^-1 mod n, -1/n mod 2^32: what the eFuse digest covers

REASONS = {
    "bad-magic": "not a signature block (first byte is not 0xE7)",
    "bad-version": "unknown scheme (version byte is neither 2, RSA, nor 3, ECDSA)",
    "bad-crc": "corrupted: the block's CRC32 does not match its bytes",
    "bad-curve": "unknown ECDSA curve or hash",
    "digest-mismatch": "signed for another image: its image digest is not the digest of this app",
    "bad-key": "the public key in the block is not a usable Secure Boot v2 key",
    "bad-signature": "the signature does not verify with the block's key",
}


def sector_offset(app_len):
    """A: the app padded to 4 KiB; the Secure Boot v2 sector occupies [A, A + 4 KiB)."""
    return image.manifest_offset(app_len) - image.SECTOR


def inspect(region, app_len):
    """A JSON-ready dict: where the sector is, its state, and a verdict for each block in it.

    `region` starts with the app (`app_len` bytes). State: "absent" (the data ends at or before
    the sector), "truncated" (it ends inside it), "empty" (0xFF), or "signature blocks"."""
    start = sector_offset(app_len)
    info = {"sector": [start, start + image.SECTOR], "signed_length": start, "state": None,
            "blocks": [], "valid_blocks": 0}
    sector = region[start:start + image.SECTOR]
    if len(sector) < image.SECTOR:
        info["state"] = "truncated" if sector else "absent"
        return info
    if sector == b"\xff" * image.SECTOR:
        info["state"] = "empty"
        return info
    info["state"] = "signature blocks"
    padded_app = region[:start]
    for index in range(MAX_BLOCKS):
        block = sector[index * BLOCK_SIZE:(index + 1) * BLOCK_SIZE]
        if block != b"\xff" * BLOCK_SIZE:  # espsecure fills unused blocks with 0xFF
            info["blocks"].append(check_block(padded_app, block, index, start + index * BLOCK_SIZE))
    info["valid_blocks"] = sum(1 for b in info["blocks"] if b["verdict"] == "valid")
    return info


def check_block(padded_app, block, index, offset):
    """One block's fields and verdict: "valid" or the first failed check's reason (REASONS)."""
    (crc,) = struct.unpack_from("<I", block, CRC_COVERS)
    computed = zlib.crc32(block[:CRC_COVERS])
    scheme = _scheme(block)
    entry = {"index": index, "offset": offset, "scheme": scheme and scheme[0], "crc": "0x%08x" % crc,
             "crc_valid": computed == crc, "image_digest": None, "image_digest_matches": None,
             "key_digest": None, "verdict": None, "error": None}

    def fail(reason, detail=None):
        entry["verdict"] = reason
        entry["error"] = REASONS[reason] + (": %s" % detail if detail else "")
        return entry

    if block[0] != MAGIC:
        return fail("bad-magic", "0x%02x" % block[0])
    if computed != crc:
        return fail("bad-crc", "stored 0x%08x, computed 0x%08x" % (crc, computed))
    if block[1] not in (VERSION_RSA, VERSION_ECDSA):
        return fail("bad-version", "0x%02x" % block[1])
    if scheme is None:
        return fail("bad-curve", "hash version %d, curve id %d" % (block[2], block[52 if block[2] == 1 else 36]))
    _, curve, digest_len, key = scheme
    entry["key_digest"] = hashlib.sha256(key).hexdigest()
    signed_digest = block[4:4 + digest_len]
    entry["image_digest"] = signed_digest.hex()
    entry["image_digest_matches"] = (hashlib.sha256 if digest_len == 32 else hashlib.sha384)(
        padded_app).digest() == signed_digest
    if not entry["image_digest_matches"]:
        return fail("digest-mismatch")
    try:
        pem = _public_pem(block, curve)
    except ValueError as e:
        return fail("bad-key", str(e))
    problem = _espsecure_key_problem(pem, entry["key_digest"])
    if problem:
        return fail("bad-key", problem)
    problem = _espsecure_verify(pem, padded_app, block, index)
    if problem:
        return fail("bad-signature", problem)
    entry["verdict"] = "valid"
    return entry


def _scheme(block):
    """(name, curve entry or None for RSA, digest length, key field) of a block, None if unknown."""
    if block[1] == VERSION_RSA:
        return "RSA-3072", None, 32, block[RSA_KEY]
    if block[1] == VERSION_ECDSA:
        curve = CURVES.get((block[2], block[52 if block[2] == 1 else 36]))
        if curve is not None:
            name, _, _, at, field = curve
            return "ECDSA-" + name, curve, at - 4, block[at:at + 1 + field]
    return None


def _public_pem(block, curve):
    """The block's public key as PEM, the form espsecure reads keys in; ValueError if it is none."""
    if curve is None:  # RSA
        n = int.from_bytes(block[36:420], "little")  # the signature block stores bignums little-endian
        (e,) = struct.unpack_from("<I", block, 420)
        key = rsa.RSAPublicNumbers(e, n).public_key()
    else:
        _, curve_class, coord, at, _ = curve
        x = int.from_bytes(block[at + 1:at + 1 + coord], "little")
        y = int.from_bytes(block[at + 1 + coord:at + 1 + 2 * coord], "little")
        key = ec.EllipticCurvePublicNumbers(x, y, curve_class()).public_key()  # ValueError: not on the curve
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def _espsecure_key_problem(pem, key_digest):
    """None if espsecure accepts the key and encodes it as the block does, else why not. The chip
    hashes the block's key field, and its RSA peripheral computes with the field's precomputed
    Montgomery constants, which espsecure's own verify never reads."""
    import espsecure
    from esptool import FatalError

    try:
        with contextlib.redirect_stdout(io.StringIO()):
            espsecure._get_sbv2_pub_key(io.BytesIO(pem))
            digest = espsecure._digest_sbv2_public_key(io.BytesIO(pem))
    except FatalError as e:
        return str(e)
    if digest.hex() != key_digest:
        return ("its key field is not the encoding of its key (RSA: the precomputed constants R^-1 mod n "
                "and -1/n mod 2^32 must belong to n), so its digest is not the key's")
    return None


def _espsecure_verify(pem, padded_app, block, index):
    """None if espsecure.verify_signature_v2 verifies this block with `pem`, else its message.

    espsecure passes when any block of the sector verifies, so it is given a sector holding
    this block alone, in its place."""
    import espsecure
    from esptool import FatalError

    sector = b"\xff" * (index * BLOCK_SIZE) + block
    data = padded_app + sector + b"\xff" * (image.SECTOR - len(sector))
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            espsecure.verify_signature_v2(False, None, io.BytesIO(pem), io.BytesIO(data))
    except FatalError as e:
        return str(e)
    return None


def format_text(info):
    """Lines for a person; none when the data ends before the sector (a bare app as built)."""
    start, end = info["sector"]
    state = info["state"]
    if state == "absent":
        return []
    if state == "truncated":
        return ["Secure Boot v2 sector 0x%x-0x%x: TRUNCATED (the data ends inside it)" % (start, end)]
    if state == "empty":
        return ["Secure Boot v2 sector 0x%x-0x%x: empty (0xFF, not signed with espsecure)" % (start, end)]
    lines = ["Secure Boot v2 sector 0x%x-0x%x: %d block(s), %d valid, over the app padded to 0x%x "
             "(espsecure verify-signature checks the first 0x%x bytes: inspect --extract-app)" % (
                 start, end, len(info["blocks"]), info["valid_blocks"], start, end)]
    for b in info["blocks"]:
        lines.append("  block %d: %s, key digest %s: %s" % (
            b["index"], b["scheme"] or "unknown scheme", b["key_digest"] or "-",
            "valid" if b["verdict"] == "valid" else "INVALID: %s (%s)" % (b["verdict"], b["error"])))
    return lines
