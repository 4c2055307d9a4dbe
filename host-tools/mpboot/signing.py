"""Make and check signed images on the host, with the device's own format code (mpboot_fw.image).

Signing takes an ESP-IDF app image, or a merged MicroPython firmware download (bootloader,
partition table, app) from which the app is cut out by its partition table. Before signing, the
app gets the checks ESP-IDF's bootloader makes (mpboot_fw.appimage.validate: magic, segments,
checksum, appended SHA-256) plus its chip id against the board, so a signed image is always one
the bootloader will boot.
"""

import hashlib
import struct
import time
from binascii import unhexlify

from mpboot import boards
from mpboot import keys as keymod
from mpboot.errors import MpbootError
from mpboot.espidf import partition_table as pt
from mpboot_fw import appimage, image, trust
from mpboot_fw.blockdev import BytesDevice

MAX_U32 = 0xFFFFFFFF
# Where a merged download starts in flash: 0x1000 on the classic ESP32, 0x0 on S3/C3.
MERGED_BASES = (0x1000, 0x0)


SECURE_BOOT_V2_MAGIC = 0xE7  # first byte of an ESP-IDF Secure Boot v2 signature block


class AppSource:
    """The app to sign and where it came from (for messages and `inspect`)."""

    def __init__(self, app, description, info, secure_boot_sector=None):
        self.app = app
        self.description = description
        self.info = info  # appimage.AppImage from validate()
        self.secure_boot_sector = secure_boot_sector  # espsecure's 4 KiB signature sector, if any


class KeyAnchor:
    """One public key standing in for a root's targets role (`--pubkey`); shaped like trust.Root.
    Its key object is read by the device's own code, as a root's would be."""

    def __init__(self, public_key):
        key = keymod.tuf_key(public_key)
        self.keys = trust.parse_keys({key.keyid: key.to_dict()}, "key")
        self.roles = {"targets": ((key.keyid,), 1)}

    def verify(self, role_name, message, signatures):
        trust.verify_role(self.keys, self.roles[role_name], message, signatures, "key")


def resolve_board(name):
    """(chip_id, board name to record) for a board name or a bare chip name."""
    chip_id = boards.chip_id_for(name)
    return chip_id, ("" if name in boards.CHIPS else boards.load_board(name).name)


def load_app(data, chip_id=None, what="input"):
    """The app image in `data` (an app image or a merged firmware file), checked like the bootloader."""
    if not data:
        raise MpbootError("%s is empty: give an ESP-IDF app image or a merged MicroPython firmware .bin" % what)
    merged = find_merged_app(data)
    limit = None
    if merged is not None:
        start, limit, description = merged
        data = data[start:]
        limit = min(limit, len(data))
    else:
        description = "app image"
    try:
        info = appimage.validate(BytesDevice(data), limit=limit)
    except appimage.AppImageError as e:
        raise MpbootError("%s is not a valid ESP-IDF app image (%s check failed): give the app .bin or a "
                          "merged MicroPython firmware download" % (what, e)) from None
    if chip_id is not None and info.chip_id != chip_id:
        raise MpbootError("%s is built for %s, not %s: use firmware for the board's chip, or the right --board"
                          % (what, chip_name(info.chip_id), chip_name(chip_id)))
    app, rest = data[:info.image_length], data[info.image_length:]
    if merged is None and rest:
        sector = _secure_boot_sector(len(app), rest)
        if sector is not None:
            return AppSource(app, "app image signed for Secure Boot v2", info, sector)
        try:
            image.read_manifest(BytesDevice(data))
            raise MpbootError("%s is already a signed image: sign the app image it was made from" % what)
        except image.ImageError:
            pass
        raise MpbootError("%s has %d unexpected bytes after the app image (%d bytes): give the app .bin as built"
                          % (what, len(rest), info.image_length))
    return AppSource(app, description, info)


def _secure_boot_sector(app_len, rest):
    """The sector `espsecure sign-data --version 2` appends (after 0xFF padding to 4 KiB), if
    `rest` is exactly that: it goes into the reserved sector of the signed image unchanged."""
    pad = image.manifest_offset(app_len) - image.SECTOR - app_len
    if len(rest) == pad + image.SECTOR and rest[:pad] == b"\xff" * pad and rest[pad] == SECURE_BOOT_V2_MAGIC:
        return rest[pad:]
    return None


def chip_name(chip_id):
    for chip in boards.CHIPS.values():
        if chip.chip_id == chip_id:
            return chip.name
    return "chip id %d" % chip_id


def find_merged_app(data):
    """(file offset of the app, its partition size, description) for a merged firmware download, else None."""
    for base in MERGED_BASES:
        table_at = pt.TABLE_OFFSET - base
        if data[table_at:table_at + 2] != pt.MAGIC:
            continue
        try:
            partitions = pt.from_binary(data[table_at:table_at + pt.TABLE_MAX_LEN])
        except pt.PartitionTableError:
            continue
        apps = sorted((p for p in partitions if p.type == pt.TYPE_APP), key=lambda p: (p.subtype, p.offset))
        if not apps:
            raise MpbootError("merged firmware has a partition table but no app partition")
        app = apps[0]  # factory (subtype 0) if present, else ota_0: what a fresh board boots
        if app.offset - base >= len(data):
            raise MpbootError("merged firmware is truncated: its %s partition at 0x%x is missing" % (app.name, app.offset))
        return app.offset - base, app.size, "app from merged firmware (flashed at 0x%x, partition %s at 0x%x)" % (
            base, app.name, app.offset)
    return None


def _text_field(value, option):
    raw = value.encode()
    if len(raw) > image.TEXT_SIZE or b"\x00" in raw:
        raise MpbootError("%s %r must be at most %d bytes of UTF-8 without NUL" % (option, value, image.TEXT_SIZE))
    return raw


def sign_app(app, private_keys, version, security_version, chip_id, board="", created=None,
             secure_boot_sector=None):
    """The signed image bytes for `app` (checked already), signed by every key in `private_keys`
    (file or token keys, Ed25519 or ECDSA P-256: keys.image_signature).

    secure_boot_sector: an ESP-IDF Secure Boot v2 signature sector to place in the reserved
    sector (else it stays 0xFF, for one to be written later)."""
    if not 0 <= security_version <= MAX_U32:
        raise MpbootError("--security-version must be between 0 and %d" % MAX_U32)
    if not private_keys:
        raise MpbootError("no signing key: pass --key KEYFILE")
    ids = [unhexlify(keymod.tuf_key(k.public_key()).keyid) for k in private_keys]
    if len(set(ids)) != len(ids):
        raise MpbootError("the same key is given twice: each --key must be a different key")
    if len(ids) > image.MAX_SIGNATURES:
        raise MpbootError("at most %d signatures fit in a manifest" % image.MAX_SIGNATURES)
    created = int(time.time()) if created is None else created
    signed = struct.pack(
        image.SIGNED_FORMAT, image.MAGIC, image.FORMAT_VERSION, image.SIGNED_SIZE, chip_id, 0,
        security_version, len(app), created, hashlib.sha256(app).digest(),
        _text_field(board, "--board"), _text_field(version, "--version"), 0)
    offset = image.manifest_offset(len(app))
    out = bytearray(app)
    out += b"\xff" * (offset - image.SECTOR - len(out))
    out += b"\xff" * image.SECTOR if secure_boot_sector is None else secure_boot_sector
    out += signed + struct.pack(image.COUNT_FORMAT, len(ids), 0)
    for keyid, key in zip(ids, private_keys):
        out += keyid + keymod.image_signature(key, signed)
    return bytes(out)


def verify_image(data, anchor, chip_id=None, board=None, floor=0):
    """Verify signed image bytes as the device does; return the Manifest or raise MpbootError."""
    try:
        return image.verify_slot(BytesDevice(data), anchor, chip_id=chip_id, board=board, floor=floor)
    except image.ImageError as e:
        raise MpbootError(describe_failure(e)) from None


HINTS = {
    "bad-app": "not an mpboot signed image (no valid ESP-IDF app at offset 0): make one with `mpboot sign`",
    "truncated": "the file is cut short",
    "truncated: no manifest": "nothing after the app: an unsigned app image (sign it with `mpboot sign`) or a cut file",
    "bad-magic": "no mpboot manifest after the app: is this an unsigned app image? sign it with `mpboot sign`",
    "bad-format": "the manifest is malformed or from a newer mpboot",
    "length-mismatch": "the manifest does not describe this app image",
    "duplicate-signature": "the manifest carries two signatures by one key",
    "signature-threshold": "not signed by enough trusted keys: a wrong key, or fewer signatures than the threshold",
    "wrong-chip": "signed for another chip",
    "wrong-board": "signed for another board",
    "downgrade": "security version below the floor",
    "payload-hash": "the app image does not match the signed hash: tampered or corrupted",
}


def describe_failure(error):
    """One line for a failed verification: the stable reason code, its detail, and what it means."""
    return "invalid image: %s (%s)" % (error, HINTS.get(str(error)) or HINTS.get(error.reason, error.reason))
