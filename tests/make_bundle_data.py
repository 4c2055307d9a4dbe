"""Build the signed bundles the device tests read (tests/device/data/bundle/).

The keys are make_device_data's fixed test keys (root.json: targets T1 + T2, threshold 2) and
Ed25519 signatures are deterministic, so every run writes the same bytes; tests/test_bundle_cli.py
rebuilds them and compares with the committed files. The bad bundles are packed with
mpboot.bundle.pack, which signs without checking: each shows the device refusing a bundle whose
signatures are genuine. Run `python tests/make_bundle_data.py` after changing the format.
"""

import hashlib
import json
import sys
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_device_data as mdd  # noqa: E402
from mpboot import bundle, keys  # noqa: E402
from mpboot_fw import cjson  # noqa: E402

DATA_DIR = mdd.DATA_DIR / "bundle"


def app_files():
    """A small application: an entry module, a library, a data file over one 4 KiB block (the
    verifier reads in blocks) and an empty file."""
    blob = b"".join(hashlib.sha256(b"%d" % i).digest() for i in range(160))  # 5120 bytes
    return {"main.py": b"import lib.util\nprint('app', lib.util.VERSION)\n",
            "lib/util.py": b"VERSION = '1.2.0'\n",
            "data/blob.bin": blob,
            "empty.txt": b""}


def _fields(**over):
    f = dict(name="app", version="1.2.0", security_version=4, board="esp32-4mb", chip_id=0, mpy=None,
             min_firmware=None, entry="main")
    f.update(over)
    return f


def _pack(files, signers=("T1", "T2"), **over):
    return bundle.pack(bundle.manifest(files=files, **_fields(**over)), [mdd.fixed_key(n) for n in signers], files)


def build():
    files = app_files()
    mpy_files = {"main.mpy": b"M\x06\x00\x1f fake bytecode", "lib/util.py": files["lib/util.py"]}
    out = {
        "good.mpbundle": _pack(files),
        "any_board.mpbundle": _pack(mpy_files, board=None, chip_id=None, mpy=6, min_firmware="1.2.0",
                                    version="2.0.0-rc.1", security_version=0),
        "chip_only.mpbundle": _pack(files, board=None, chip_id=5),
        "device_package.mpbundle": _pack({"mpboot_fw/__init__.py": b"", "boot.txt": b"x"}, name="mpboot",
                                         entry=None),
        "one_signature.mpbundle": _pack(files, signers=("T1",)),
        "wrong_key.mpbundle": _pack(files, signers=("T1", "R1")),
        "escaping.mpbundle": _pack({"../boot.py": b"import evil\n", "main.py": b""}),
        "reserved.mpbundle": _pack({"boot.py": b"import evil\n", "main.py": b""}),
        # The next release of good.mpbundle, for a second install into the other copy
        # (bundlestore): one file changed, one added, one removed, one the same.
        "good_v2.mpbundle": _pack(_v2_files(files), version="1.3.0", security_version=5),
        "wrong_board.mpbundle": _pack(files, board="esp32-other"),
        # Its manifest is genuine, its first file over the cap; no file bytes follow (they must
        # never be read).
        "file_too_large.mpbundle": _too_large(),
    }
    # T1 twice: pack signs with each key given, so the second entry is copied by hand.
    one = out["one_signature.mpbundle"]
    out["duplicate_signature.mpbundle"] = _with_signature(one, json.loads(_manifest(one))["signatures"][0])
    # T1 and the P-256 key of root_p256.json (its targets: T1, T2, that key; threshold
    # 2). ECDSA as TUF signs it (DER), but deterministic (RFC 6979) so the fixture is stable.
    p256 = ec.derive_private_key(7, ec.SECP256R1())
    message = cjson.encode(json.loads(_manifest(one))["signed"])
    der = p256.sign(message, ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
    out["ecdsa.mpbundle"] = _with_signature(one, {"keyid": keys.tuf_key(p256.public_key()).keyid, "sig": der.hex()})
    return out


def _v2_files(files):
    v2 = dict(files, **{"lib/util.py": b"VERSION = '1.3.0'\n", "lib/extra.py": b"EXTRA = 1\n"})
    del v2["empty.txt"]
    return v2


def _manifest(data):
    return data[16:16 + int.from_bytes(data[8:12], "little")]


def _with_signature(data, entry):
    """`data` with one more signature entry, after the others (packed by hand: pack signs with
    real keys only, and not twice with one)."""
    doc = _manifest(data)
    sigs_end = doc.index(b'],"signed":')
    doc2 = doc[:sigs_end] + b"," + json.dumps(entry, separators=(",", ":"), sort_keys=True).encode() + doc[sigs_end:]
    return data[:8] + len(doc2).to_bytes(4, "little") + data[12:16] + doc2 + data[16 + len(doc):]


def _too_large():
    signed = bundle.manifest(files={"main.py": b""}, **_fields())
    signed["files"][0]["size"] = bundle.fmt.MAX_FILE_SIZE + 1
    return bundle.pack(signed, [mdd.fixed_key("T1"), mdd.fixed_key("T2")], {})


def main():
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    for name, data in sorted(build().items()):
        (DATA_DIR / name).write_bytes(data)
        print("wrote", DATA_DIR / name, len(data), "bytes")


if __name__ == "__main__":
    main()
