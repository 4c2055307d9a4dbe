"""Build the files the device tests read (tests/device/data/): roots and signed images.

Keys come from fixed seeds and Ed25519 signatures are deterministic, so every run writes the
same bytes; tests/test_fixture_data.py rebuilds them and compares with the committed files, so a
fixture can never drift from the code that should produce it. Run `python tests/make_device_data.py`
after changing the formats.

The good root is made by `mpboot.anchor.create_root` (python-tuf's Metadata API). The broken
variants are re-signed by hand (securesystemslib's canonical JSON + `cryptography`), because
python-tuf refuses to build most of them: each shows that the device catches one attack even
when the signatures on it are genuine.
"""

import hashlib
import json
import struct
import sys
from datetime import datetime, timezone
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from securesystemslib.formats import encode_canonical

sys.path.insert(0, str(Path(__file__).resolve().parent / "device"))
import appbuilder  # noqa: E402  (tests/device/appbuilder.py, shared with the device tests)
from mpboot import anchor, keys, signing
from mpboot_fw import image

DATA_DIR = Path(__file__).resolve().parent / "device" / "data"
NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


def fixed_key(name):
    """A fixed Ed25519 key for tests, derived from its name."""
    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"mpboot test key " + name.encode()).digest())


def keyid(private_key):
    return keys.tuf_key(private_key.public_key()).keyid


def _sign_doc(signed, signers):
    """A metadata document over `signed`; signers are (keyid to claim, private key) pairs."""
    message = encode_canonical(signed).encode()
    signatures = [{"keyid": kid, "sig": key.sign(message).hex()} for kid, key in signers]
    return json.dumps({"signatures": signatures, "signed": signed}, separators=(",", ":"), sort_keys=True).encode()


def _with(signers):
    return [(keyid(k), k) for k in signers]


def _root_signed(version, root_keys, root_threshold, targets=None, extra_keys=None):
    """A root `signed` dict like create_root's: targets/snapshot/timestamp from T1 (and T2)."""
    r1 = json.loads(_good_root())["signed"]
    r1["version"] = version
    for k in root_keys:
        r1["keys"][keyid(k)] = keys.tuf_key(k.public_key()).to_dict()
    r1["roles"]["root"] = {"keyids": [keyid(k) for k in root_keys], "threshold": root_threshold}
    r1["keys"].update(extra_keys or {})
    return r1


def _good_root():
    r1, r2, t1, t2 = (fixed_key(n) for n in ("R1", "R2", "T1", "T2"))
    return anchor.create_root(
        [r1, r2],
        {"targets": [t1.public_key(), t2.public_key()], "snapshot": [t1.public_key()],
         "timestamp": [t1.public_key()]},
        thresholds={"root": 2, "targets": 2},
        now=NOW,
    )


def roots():
    r1, r2, r3, r4 = (fixed_key(n) for n in ("R1", "R2", "R3", "R4"))
    t1 = fixed_key("T1")
    good = _good_root()
    signed = json.loads(good)["signed"]
    files = {"root.json": good}
    files["root_one_signature.json"] = _sign_doc(signed, _with([r1]))
    files["root_duplicate_signature.json"] = _sign_doc(signed, _with([r1, r1, r2]))
    # One key listed twice in the root role: a naive count would reach threshold 2 with it alone.
    dup = json.loads(good)["signed"]
    dup["roles"]["root"]["keyids"] = [keyid(r1), keyid(r1)]
    files["root_role_duplicate_keyid.json"] = _sign_doc(dup, _with([r1]))
    # The holder of R2 publishes R2's key under R1's keyid too: two "keys", one holder.
    forged = json.loads(good)["signed"]
    forged["keys"][keyid(r1)] = keys.tuf_key(r2.public_key()).to_dict()
    files["root_keyid_mismatch.json"] = _sign_doc(forged, [(keyid(r1), r2), (keyid(r2), r2)])
    # A valid ECDSA P-384 key in the targets role: allowed in the document, never counted (the
    # device verifies Ed25519 and P-256 keys only).
    p384 = keys.tuf_key(ec.derive_private_key(7, ec.SECP384R1()).public_key())
    other = json.loads(good)["signed"]
    other["keys"][p384.keyid] = p384.to_dict()
    other["roles"]["targets"]["keyids"].append(p384.keyid)
    files["root_other_keytype.json"] = _sign_doc(other, _with([r1, r2]))
    # A P-256 key beside T1 and T2 in the targets role (threshold 2): it counts like an Ed25519 one.
    p256 = keys.tuf_key(ec.derive_private_key(7, ec.SECP256R1()).public_key())
    mixed = json.loads(good)["signed"]
    mixed["keys"][p256.keyid] = p256.to_dict()
    mixed["roles"]["targets"]["keyids"].append(p256.keyid)
    files["root_p256.json"] = _sign_doc(mixed, _with([r1, r2]))
    # Rotation from root.json (version 1, root role R1+R2 threshold 2).
    files["root_v2.json"] = _sign_doc(_root_signed(2, [r2, r3], 2), _with([r1, r2, r3]))
    files["root_v2_new_keys_only.json"] = _sign_doc(_root_signed(2, [r3, r4], 2), _with([r3, r4]))
    files["root_v2_old_keys_only.json"] = _sign_doc(_root_signed(2, [r3, r4], 2), _with([r1, r2]))
    files["root_v3.json"] = _sign_doc(_root_signed(3, [r1, r2], 2), _with([r1, r2]))
    files["root_single.json"] = anchor.create_root(
        [r1], {"targets": [t1.public_key()], "snapshot": [t1.public_key()], "timestamp": [t1.public_key()]}, now=NOW)
    return files


CREATED = int(NOW.timestamp())


def images():
    """Signed images of small synthetic apps (tests/device/appbuilder.py) for the device tests."""
    t1, t2, r1 = fixed_key("T1"), fixed_key("T2"), fixed_key("R1")
    app = appbuilder.build(version="app-1.0", secure_version=3, data_segments=(1000, 3000))
    c3_app = appbuilder.build(version="app-c3", chip_id=5, data_segments=(2000,))

    def sign(keys_, board="esp32-4mb", app_=app, chip_id=0):
        return signing.sign_app(app_, keys_, "1.2.3", 5, chip_id, board, created=CREATED)

    files = {
        "image.mpb": sign([t1, t2]),
        "image_any_board.mpb": sign([t2, t1], board=""),
        "image_one_signature.mpb": sign([t1]),
        "image_wrong_key.mpb": sign([t1, r1]),
        "image_esp32c3.mpb": sign([t1, t2], board="esp32c3-4mb", app_=c3_app, chip_id=5),
        "app.bin": app,
    }
    # T1 twice: sign_app refuses that, so the second entry is appended by hand.
    one = bytearray(files["image_one_signature.mpb"])
    count_at = image.manifest_offset(len(app)) + image.SIGNED_SIZE
    one[count_at:count_at + 2] = struct.pack("<H", 2)
    files["image_duplicate_signature.mpb"] = bytes(one + one[-image.ENTRY_SIZE:])
    return files


def build_all():
    files = roots()
    files.update(images())
    return files


def main():
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    for name, data in sorted(build_all().items()):
        (DATA_DIR / name).write_bytes(data)
        print("wrote", DATA_DIR / name, len(data), "bytes")


if __name__ == "__main__":
    main()
