"""Build the TUF repository files the device tests read (tests/device/data/tuf/).

A small repository history made with python-tuf's Metadata API (tests/tufrepo.py): fixed keys,
fixed dates and deterministic Ed25519 signatures, so every run writes the same bytes;
tests/test_fixture_data.py rebuilds them and compares with the committed files. Run
`python tests/make_tuf_data.py` after changing the repository story below.

Files are named as a consistent-snapshot repository serves them (`2.snapshot.json`), plus
attack variants whose names say what is wrong with them. `now.txt` is the reference time the
device tests use (integer Unix seconds).
"""

import hashlib
import sys
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from tufrepo import NOW, Repo, fixed_key, unix  # noqa: E402

DATA_DIR = Path(__file__).resolve().parent / "device" / "data" / "tuf"

# Images the targets role lists: (path, bytes, custom fields as `mpboot publish` writes them;
# host-tools/mpboot/repo/publish.py custom_fields). board "" is a build for any board of its chip.
def _image(board, chip_id, channel, version, security_version):
    group = board or {0: "esp32", 9: "esp32s3"}[chip_id]
    data = ("image %s %s %s" % (group, channel, version)).encode()
    custom = {"board": board, "chip_id": chip_id, "channel": channel, "version": version,
              "security_version": security_version, "payload_len": len(data),
              "payload_sha256": hashlib.sha256(data).hexdigest(), "created": unix(NOW)}
    return "%s/%s/%s.mpb" % (group, channel, version), data, custom


IMAGES_V1 = [
    _image("esp32-4mb", 0, "stable", "1.0.0", 1),
    _image("esp32-4mb", 0, "beta", "1.1.0-rc.1", 1),
]
IMAGES_V2 = [
    _image("esp32-4mb", 0, "stable", "1.2.0", 2),
    _image("", 0, "stable", "1.2.0", 2),
    _image("", 0, "beta", "1.3.0", 1),
    _image("esp32-4mb", 0, "stable", "1.5.0", 1),
    _image("esp32s3-8mb", 9, "stable", "2.0.0", 1),
]


def build():
    """{file name: bytes} of the whole story."""
    repo = Repo(consistent_snapshot=True, compact=True, hashes=True)
    for path, data, custom in IMAGES_V1:
        repo.add_target(path, data, custom)
    repo.publish_targets()  # targets v2, snapshot v2, timestamp v2
    for path, data, custom in IMAGES_V2:
        repo.add_target(path, data, custom)
    repo.publish_targets()  # targets v3, snapshot v3, timestamp v3
    files = {}
    for role in ("root", "timestamp", "snapshot", "targets"):
        for version, data in enumerate(repo.published[role], 1):
            files["%d.%s.json" % (version, role)] = data
    for path, data, _ in IMAGES_V1 + IMAGES_V2:
        files["target." + path.replace("/", "_")] = data

    # Attack variants, each one step past the story above.
    repo.timestamp.version += 1
    files["timestamp_forged.json"] = repo.sign("timestamp", signers=[fixed_key("attacker")])
    repo.timestamp.expires = NOW - timedelta(seconds=1)
    files["timestamp_expired.json"] = repo.sign("timestamp")
    repo.timestamp.expires = repo.expiry

    # Root rotation: v2 replaces the root key and the timestamp key (signed by old and new root
    # keys), v2 signed by the new root key only, v3 after it, and v3 signed by both root keys (a
    # skip for a device at v1).
    old_root, new_root = repo.signers["root"][0], fixed_key("root-2")
    repo.remove_key("root", old_root)
    repo.add_key("root", new_root)
    repo.remove_key("timestamp", repo.signers["timestamp"][0])
    repo.add_key("timestamp", fixed_key("timestamp-2"))
    files["2.root.json"] = repo.publish("root", signers=[old_root, new_root])
    files["2.root_new_key_only.json"] = repo.sign("root", signers=[new_root])
    files["3.root.json"] = repo.publish("root", signers=[new_root])
    files["3.root_skip.json"] = repo.sign("root", signers=[old_root, new_root])
    repo.timestamp.version = 1
    files["timestamp_after_rotation.json"] = repo.sign("timestamp")
    files["now.txt"] = b"%d\n" % unix(NOW)
    return files


def main():
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    files = build()
    for old in DATA_DIR.iterdir():
        if old.name not in files:
            old.unlink()
    for name, data in files.items():
        (DATA_DIR / name).write_bytes(data)
    print("wrote %d files to %s" % (len(files), DATA_DIR))


if __name__ == "__main__":
    main()
