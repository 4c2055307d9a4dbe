"""The mpboot signed image: an ESP-IDF app image, unchanged, followed by a signed manifest.

Layout (docs/image-format.md has the byte table and a worked example):

    0                 the ESP-IDF app image, app_len bytes (the bootloader boots it as is)
    app_len           0xFF up to the next 4 KiB boundary
    align4k(app_len)  4 KiB reserved for an ESP-IDF Secure Boot v2 signature sector
    M = align4k(app_len) + 4096:
      signed part, 128 bytes (little-endian):
        magic "MPB1", format_version u16 = 1, signed_size u16 = 128, chip_id u16, flags u16 = 0,
        security_version u32, payload_len u32, created u64, payload_sha256 [32],
        board [32], version [32] (UTF-8, NUL padded), reserved u32 = 0
      unsigned part: sig_count u16, reserved u16, then sig_count x (keyid [32], signature [64])

The payload is the app image bytes [0, app_len). A device finds M by walking the app image's
headers (appimage.parse) and requires payload_len to equal that length, so the manifest cannot
point anywhere else. Each signature is over the 128 signed bytes, by the key its keyid (the raw
form of a TUF keyid) names: Ed25519 (R || S), or ECDSA P-256 over their SHA-256 as r || s, each
32 bytes big-endian (IEEE P1363, not DER: the slot has a fixed size). A threshold of the root's
`targets` keys must have signed.
The magic starts the signed bytes, so a manifest signature can never be mistaken for one over
TUF metadata (canonical JSON starts with `{`), although the same keys sign both.

`verify_slot` raises ImageError whose `reason` is a short stable code the boot log records:
bad-app, truncated, bad-magic, bad-format, length-mismatch, duplicate-signature,
signature-threshold, wrong-chip, wrong-board, downgrade, payload-hash.
"""

import hashlib
import struct
from binascii import hexlify

from mpboot_fw import appimage
from mpboot_fw.trust import SlotSignature, TrustError, collect_signatures

try:
    from micropython import const
except ImportError:
    def const(x):
        return x

MAGIC = b"MPB1"
FORMAT_VERSION = const(1)
SIGNED_SIZE = const(128)
SIGNED_FORMAT = "<4sHHHHIIQ32s32s32sI"
COUNT_FORMAT = "<HH"
COUNT_SIZE = const(4)
KEYID_SIZE = const(32)
ENTRY_SIZE = const(96)  # keyid, then the 64-byte signature
MAX_SIGNATURES = const(16)
TEXT_SIZE = const(32)
SECTOR = const(4096)
BLOCK = const(4096)


class ImageError(Exception):
    """A slot or file that is not a valid signed image; `reason` is the failed check's code."""

    def __init__(self, reason, detail=None):
        super().__init__(reason if detail is None else reason + ": " + detail)
        self.reason = reason


class Manifest:
    """Every field of a manifest, plus where it sits: `offset` (M) and `length` (whole file)."""


def manifest_offset(app_len):
    """M: after the app padded to 4 KiB and the Secure Boot v2 signature sector."""
    return (app_len + SECTOR - 1) // SECTOR * SECTOR + SECTOR


def read_manifest(dev, limit=None):
    """Find and parse the manifest (structure only, nothing verified). `limit`: the device size."""
    if limit is None:
        limit = dev.info()[3]
    try:
        app = appimage.parse(dev, limit)
    except appimage.AppImageError as e:
        if str(e) in ("truncated", "image too long"):
            raise ImageError("truncated", "app image")
        raise ImageError("bad-app", str(e))
    m = Manifest()
    m.app = app
    m.offset = manifest_offset(app.image_length)
    if m.offset + SIGNED_SIZE + COUNT_SIZE > limit:
        raise ImageError("truncated", "no manifest")
    head = bytearray(SIGNED_SIZE + COUNT_SIZE)
    _read(dev, m.offset, head)
    if head[0:4] != MAGIC:
        raise ImageError("bad-magic")
    (_, m.format_version, m.signed_size, m.chip_id, m.flags, m.security_version, m.payload_len,
     m.created, m.payload_sha256, board, version, reserved) = struct.unpack_from(SIGNED_FORMAT, head, 0)
    if m.format_version != FORMAT_VERSION or m.signed_size != SIGNED_SIZE:
        raise ImageError("bad-format", "version")
    if m.flags or reserved:
        # Format 1 defines no flags: a bit set here means something this reader cannot honour.
        raise ImageError("bad-format", "flags")
    m.board = _text(board)
    m.version = _text(version)
    m.signed = bytes(head[:SIGNED_SIZE])
    count = struct.unpack_from(COUNT_FORMAT, head, SIGNED_SIZE)[0]
    if count == 0 or count > MAX_SIGNATURES:
        raise ImageError("bad-format", "signature count")
    m.length = m.offset + SIGNED_SIZE + COUNT_SIZE + count * ENTRY_SIZE
    if m.length > limit:
        raise ImageError("truncated", "signatures")
    m.signatures = []
    entry = bytearray(ENTRY_SIZE)
    for i in range(count):
        _read(dev, m.offset + SIGNED_SIZE + COUNT_SIZE + i * ENTRY_SIZE, entry)
        m.signatures.append((hexlify(entry[:KEYID_SIZE]).decode(), bytes(entry[KEYID_SIZE:])))
    return m


def verify_slot(dev, root, chip_id=None, board=None, floor=0, limit=None, buf=None):
    """Verify the signed image in `dev` against `root`; return its Manifest or raise ImageError.

    root: a trust.Root (anything with verify(role_name, message, signatures)); the `targets`
    role signs images. chip_id/board: what this device is (None skips the check; a manifest
    with an empty board fits any board of its chip). floor: the lowest security_version
    allowed. buf: a reusable 4 KiB buffer for the payload hash.
    """
    m = read_manifest(dev, limit)
    if m.payload_len != m.app.image_length:
        raise ImageError("length-mismatch")
    # Authenticate the manifest first, so every later decision rests on signed fields only.
    try:
        signatures = collect_signatures([(keyid, SlotSignature(sig)) for keyid, sig in m.signatures])
    except TrustError:
        raise ImageError("duplicate-signature")
    try:
        root.verify("targets", m.signed, signatures)
    except TrustError as e:
        raise ImageError("signature-threshold", str(e).split(": ", 1)[-1])
    if chip_id is not None and m.chip_id != chip_id:
        raise ImageError("wrong-chip")
    if board is not None and m.board and m.board != board:
        raise ImageError("wrong-board")
    if m.security_version < floor:
        raise ImageError("downgrade")
    if payload_sha256(dev, m.payload_len, buf) != m.payload_sha256:
        raise ImageError("payload-hash")
    return m


def describe(label, m):
    """'ota_1 2.0.0 sv3': the image in slot `label` whose Manifest is `m`, for the log (at most 64 bytes)."""
    return "%s %s sv%d" % (label, m.version, m.security_version)


def payload_sha256(dev, length, buf=None):
    """SHA-256 of the first `length` bytes of `dev`, streamed through one 4 KiB buffer."""
    if buf is None:
        buf = bytearray(BLOCK)
    mv = memoryview(buf)
    sha = hashlib.sha256()
    pos = 0
    while pos < length:
        n = min(BLOCK, length - pos)
        chunk = mv if n == BLOCK else mv[:n]  # a slice only for the last, short block
        dev.readblocks(pos // BLOCK, chunk, 0)
        sha.update(chunk)
        pos += n
    return sha.digest()


def _read(dev, pos, buf):
    dev.readblocks(pos // BLOCK, buf, pos % BLOCK)


def _text(raw):
    """A NUL-padded UTF-8 field: text, then only NULs."""
    end = raw.find(b"\x00")
    if end < 0:
        end = len(raw)
    if raw[end:] != bytes(len(raw) - end):
        raise ImageError("bad-format", "text")
    try:
        return raw[:end].decode()
    except UnicodeError:
        raise ImageError("bad-format", "text")
