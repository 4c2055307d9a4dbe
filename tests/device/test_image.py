# The signed image check (verify_slot) on both runtimes. Images in data/ are small synthetic apps
# signed by tests/make_device_data.py with the host signer; every bad variant is made here by
# changing bytes, and each must fail with its own reason code.
import hashlib
import struct

import devtest
from mpboot_fw import image, trust
from mpboot_fw.blockdev import BytesDevice
from mpboot_fw.image import ImageError

CREATED = 1767225600  # make_device_data.NOW


def _read(name):
    with open(devtest.data_path(name), "rb") as f:
        return f.read()


ROOT = trust.load_root(_read("root.json"))
GOOD = _read("image.mpb")
APP = _read("app.bin")
M = image.manifest_offset(len(APP))


def _error(data, **kw):
    return devtest.raises(ImageError, image.verify_slot, BytesDevice(data), ROOT, **kw)


def _reason(data, **kw):
    return _error(data, **kw).reason


def _patched(data, offset, new):
    out = bytearray(data)
    out[offset:offset + len(new)] = new
    return bytes(out)


def _flipped(data, offset):
    return _patched(data, offset, bytes([data[offset] ^ 1]))


def test_good_image_verifies_and_reports_every_field():
    m = image.verify_slot(BytesDevice(GOOD), ROOT, chip_id=0, board="esp32-4mb", floor=5)
    assert (m.format_version, m.signed_size, m.chip_id, m.flags) == (1, 128, 0, 0)
    assert (m.version, m.board, m.security_version, m.created) == ("1.2.3", "esp32-4mb", 5, CREATED)
    assert m.payload_len == len(APP) == m.app.image_length
    assert m.payload_sha256 == hashlib.sha256(APP).digest()
    assert m.offset == M == 12288 and m.length == len(GOOD)
    assert m.signed == GOOD[M:M + 128]
    assert [k for k, _ in m.signatures] == list(ROOT.roles["targets"][0])
    assert (m.app.version, m.app.secure_version) == ("app-1.0", 3)
    # The app is unchanged at offset 0, then 0xFF up to the manifest (padding + reserved sector).
    assert GOOD[:len(APP)] == APP and GOOD[len(APP):M] == b"\xff" * (M - len(APP))


def test_checks_that_are_skipped_when_not_asked_for():
    image.verify_slot(BytesDevice(GOOD), ROOT)
    image.verify_slot(BytesDevice(GOOD), ROOT, chip_id=0, buf=bytearray(4096))


def test_layout_arithmetic():
    assert image.manifest_offset(1) == 8192
    assert image.manifest_offset(4096) == 8192
    assert image.manifest_offset(4097) == 12288


def test_chip_board_and_security_floor():
    assert _reason(GOOD, chip_id=9) == "wrong-chip"
    assert _reason(GOOD, chip_id=0, board="esp32c3-4mb") == "wrong-board"
    assert _reason(GOOD, floor=6) == "downgrade"
    any_board = _read("image_any_board.mpb")
    image.verify_slot(BytesDevice(any_board), ROOT, chip_id=0, board="esp32-4mb")
    image.verify_slot(BytesDevice(any_board), ROOT, chip_id=0, board="some-other-esp32")
    assert _reason(any_board, chip_id=5) == "wrong-chip"
    c3 = _read("image_esp32c3.mpb")
    assert image.verify_slot(BytesDevice(c3), ROOT, chip_id=5, board="esp32c3-4mb").chip_id == 5
    assert _reason(c3, chip_id=0) == "wrong-chip"


def test_below_threshold_and_wrong_keys():
    assert str(_error(_read("image_one_signature.mpb"))) == "signature-threshold: 1 of 2 targets signatures"
    # R1 is a root key, not a targets key: its genuine signature does not count.
    assert str(_error(_read("image_wrong_key.mpb"))) == "signature-threshold: 1 of 2 targets signatures"
    assert _reason(_read("image_duplicate_signature.mpb")) == "duplicate-signature"


def test_tampered_payload():
    for offset in (0x30, 0x300, 1000, len(APP) - 40, len(APP) - 1):
        assert _reason(_flipped(GOOD, offset)) == "payload-hash", offset


def test_tampered_manifest():
    # Every signed field: version, chip, security version, length, created, hash, board, text.
    for offset in (4, 8, 12, 16, 20, 28, 60, 92, 124):
        reason = _reason(_flipped(GOOD, M + offset))
        assert reason in ("signature-threshold", "bad-format", "length-mismatch"), (offset, reason)
    for offset in (12, 20, 28, 59, 60, 92):
        assert str(_error(_flipped(GOOD, M + offset))) == "signature-threshold: 0 of 2 targets signatures"


def test_tampered_signatures():
    first = M + 132
    for offset in (first, first + 31, first + 32, first + 95):  # keyid, then signature bytes
        assert str(_error(_flipped(GOOD, offset))) == "signature-threshold: 1 of 2 targets signatures"


def test_structure_errors_name_the_check():
    cases = (
        (0, b"MPB2", "bad-magic"),
        (0, b"\x00\x00\x00\x00", "bad-magic"),
        (4, struct.pack("<H", 2), "bad-format"),
        (6, struct.pack("<H", 132), "bad-format"),
        (10, struct.pack("<H", 1), "bad-format"),
        (124, struct.pack("<I", 1), "bad-format"),
        (60 + 31, b"x", "bad-format"),  # board text: something after its NUL padding
        (92, b"\xff", "bad-format"),  # version text: not UTF-8
        (128, struct.pack("<H", 0), "bad-format"),
        (128, struct.pack("<H", 17), "bad-format"),
        (128, struct.pack("<H", 3), "truncated"),
        (16, struct.pack("<I", len(APP) + 16), "length-mismatch"),
    )
    for offset, new, reason in cases:
        assert _reason(_patched(GOOD, M + offset, new)) == reason, (offset, new, reason)


def test_truncated_files():
    for length in (0, 1, 23, 287, 1000, len(APP) - 1, len(APP), M - 1, M, M + 131, len(GOOD) - 96, len(GOOD) - 1):
        assert _reason(GOOD[:length]) == "truncated", length


def test_foreign_content():
    assert str(_error(b"\xff" * 16384)) == "bad-app: magic"
    assert _reason(bytes(range(256)) * 64) == "bad-app"
    # An unsigned app in an erased slot: the app is fine, there is no manifest.
    assert _reason(APP + b"\xff" * 16384) == "bad-magic"
    assert _reason(APP) == "truncated"


def test_read_manifest_does_not_verify():
    m = image.read_manifest(BytesDevice(_read("image_wrong_key.mpb")))
    assert len(m.signatures) == 2 and m.version == "1.2.3"
    m = image.read_manifest(BytesDevice(_flipped(GOOD, 1000)))
    assert m.payload_sha256 == hashlib.sha256(APP).digest()


def test_memory_while_verifying():
    # This runtime's gc.collect() frees nothing (the WebAssembly port), so live memory cannot be
    # sampled; instead count every byte allocated with the collector off. Everything verify_slot
    # allocates outside the signature check is an upper bound on its own live memory; what the
    # Ed25519 verify allocates (short-lived garbage) is measured separately.
    if not devtest.ON_MICROPYTHON:
        return
    import gc

    class MeasuredRoot:
        inside = 0

        def verify(self, role_name, message, signatures):
            before = gc.mem_alloc()
            try:
                ROOT.verify(role_name, message, signatures)
            finally:
                MeasuredRoot.inside += gc.mem_alloc() - before

    buf = bytearray(4096)
    gc.collect()
    gc.disable()
    try:
        before = gc.mem_alloc()
        image.verify_slot(BytesDevice(GOOD), MeasuredRoot(), chip_id=0, board="esp32-4mb", buf=buf)
        total = gc.mem_alloc() - before
    finally:
        gc.enable()
    own = total - MeasuredRoot.inside
    print("verify_slot allocates %d bytes besides the signature check, which allocates %d" % (own, MeasuredRoot.inside))
    assert own < 16 * 1024
