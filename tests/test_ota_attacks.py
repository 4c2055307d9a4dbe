"""Attacks on the update path, each refused on the emulated board (tests/otaworld.py) with the
device staying on its good image and the reason in its persistent log.

Attacks are what an attacker can serve: files of the real repository edited, replayed or
re-signed with the keys the attacker is assumed to hold (World.forge signs with python-tuf's
Metadata API and skips every check `mpboot publish` makes), served by the real `mpboot serve`;
endless and slow data come from a deliberately misbehaving server (tests/https_fixtures.py).
"""

import shutil
import time
from datetime import datetime, timedelta, timezone

from https_fixtures import Behaviour
from mpboot import keys as keymod
from mpboot.repo.maintain import refresh_timestamp
from otaworld import World, fixture_world, output_line, status, world  # noqa: F401 (fixtures)

FAST = {"backoff_ms": 10}


def checked(w):
    """A first, good check: the device trusts the repository as it is now."""
    record = w.boot()
    assert output_line(record, "ota:") == "current", record.output


def refused(w, record, code, reason, detail=None, good=("ota_0", "1.0.0")):
    """The check failed for `reason`, it is in the log, and the device stays on its good image."""
    failed = output_line(record, "ota-failed:").split(" ", 2)
    assert failed[:2] == [code, reason], record.output
    if detail is not None:
        assert detail in failed[2], failed
    events = [e for e in w.ota_events() if e[0] != "ota-stale"]
    assert events[-1][:2] == (code, reason)
    assert record.outcome == "ok" and (record.slot, record.app["version"]) == good
    state = w.state()
    assert state.pending is None
    again = w.boot(options=FAST)
    assert (again.slot, again.app["version"]) == good
    assert any(line.endswith(": %s %s sv1 verified" % good) for line in again.output), again.output
    return failed


def attacker_key(w, name="attacker.pem"):
    path = w.keys / name
    keymod.generate_keypair(path)
    return path.name


def test_arbitrary_image_not_signed_by_the_targets_keys(world):
    w = world
    evil = w.image("9.0.0", keys=(attacker_key(w),))
    w.forge(add=[("esp32-4mb/stable/9.0.0.mpb", evil, None)])  # metadata vouches for it
    refused(w, w.boot(), "ota-refused", "signature-threshold")
    assert "installed" not in [e[0] for e in w.ota_events()]


def test_arbitrary_metadata_signed_by_unknown_keys(world):
    w = world
    checked(w)
    key = attacker_key(w)
    evil = w.image("9.0.0", keys=(key,))
    w.forge(add=[("esp32-4mb/stable/9.0.0.mpb", evil, None)],
            keys={"targets": [key], "snapshot": [key], "timestamp": [key]})
    refused(w, w.boot(), "ota-refused", "BadSignature", "timestamp")


def test_metadata_rollback(world):
    w = world
    old = w.metadata("timestamp.json").read_bytes()
    w.publish("2.0.0")
    w.boot()  # installs 2.0.0 ...
    assert w.boot().app["version"] == "2.0.0"  # ... and confirms it
    w.metadata("timestamp.json").write_bytes(old)  # replay the timestamp from before
    record = w.boot()
    failed = output_line(record, "ota-failed:").split()
    assert failed[:2] == ["ota-refused", "Rollback"]
    assert record.app["version"] == "2.0.0" and w.boot().app["version"] == "2.0.0"


def test_freeze_with_an_expired_timestamp(world):
    w = world
    checked(w)
    stored = w.state().blob("tuf")
    repo = w.repo()
    refresh_timestamp(repo, w.keyring(repo), now=datetime.now(timezone.utc) - timedelta(days=2))
    refused(w, w.boot(), "ota-refused", "Expired", "timestamp")
    assert w.state().blob("tuf") == stored  # the trusted set is not replaced by the expired one


def test_freeze_with_the_clock_set_back(world):
    w = world
    checked(w)
    floor = w.state().time_floor
    # A timestamp the device never saw, valid two days ago, replayed to a device whose clock was
    # set back to then (e.g. by spoofed network time): by that clock it is fresh.
    then = datetime.now(timezone.utc) - timedelta(days=2)
    repo = w.repo()
    refresh_timestamp(repo, w.keyring(repo), now=then)
    expires = w.repo().timestamp.expires.timestamp()
    clock = int(then.timestamp()) + 3600
    assert clock < expires < floor
    record = w.boot(clock=clock)
    refused(w, record, "ota-refused", "Expired", "timestamp")
    assert status(record)["clock_behind"] and w.state().time_floor == floor


def test_mix_and_match(world):
    w = world
    checked(w)
    old_targets = w.repo().targets.version
    w.publish("2.0.0")
    new_targets = w.repo().targets.version
    # serve the old targets metadata (validly signed) under the name the new snapshot points to
    shutil.copy(w.metadata("%d.targets.json" % old_targets), w.metadata("%d.targets.json" % new_targets))
    refused(w, w.boot(), "ota-refused", "LengthOrHashMismatch")


def test_endless_metadata_and_endless_image(fixture_world):
    w = fixture_world
    # the timestamp (2nd request) never ends: cut at the timestamp's cap
    w.server.plan = [Behaviour(), Behaviour(length=None, endless=True)]
    refused(w, w.boot(options=FAST), "ota-error", "too-long", "timestamp.json")
    w.publish("2.0.0")
    w.serve_files()
    # the image (5th request) claims no length and never ends: cut one byte past the TUF length
    w.server.plan = [Behaviour()] * 4 + [Behaviour(length=None, endless=True)]
    refused(w, w.boot(options=FAST), "ota-error", "too-long", ".2.0.0.mpb")


def test_slow_retrieval(fixture_world):
    w = fixture_world
    w.publish("2.0.0")
    w.serve_files()
    w.server.plan = [Behaviour()] * 4 + [Behaviour(rate=300, piece=50)] * 3
    options = dict(FAST, min_rate=1024, window_ms=1000, retries=1, attempts=2)
    start = time.monotonic()
    refused(w, w.boot(options=options), "ota-error", "too-slow")
    assert time.monotonic() - start < 10


def test_compromise_below_threshold(tmp_path, micropython):
    w = World(tmp_path, micropython, thresholds={"targets": 2})
    try:
        checked(w)
        # one of the two targets keys, plus the online keys (a compromised server)
        evil = w.image("9.0.0", keys=("targets.pem",))
        w.forge(add=[("esp32-4mb/stable/9.0.0.mpb", evil, None)], keys={"targets": ["targets.pem"]})
        refused(w, w.boot(), "ota-refused", "BadSignature", "targets")
    finally:
        w.close()


def _rotate_targets_key(w):
    """Replace the targets key (targets.pem -> targets-new.pem) in root v2 and publish 2.0.0
    signed by the new key in the same go (images signed by the old key stop verifying: see
    test_rotation_without_an_image_signed_by_the_new_key); the device follows both."""
    w.add_key("targets", "targets-new.pem", replace=True)
    w.publish_image(w.image("2.0.0", keys=("targets-new.pem",)))
    assert w.boot().outcome == "reset"
    assert (w.boot().app["version"], w.state().root_version) == ("2.0.0", 2)


def test_revoked_key_metadata(world):
    w = world
    _rotate_targets_key(w)
    evil = w.image("9.0.0", keys=("targets.pem",))
    w.forge(add=[("esp32-4mb/stable/9.0.0.mpb", evil, None)], keys={"targets": ["targets.pem"]})
    refused(w, w.boot(), "ota-refused", "BadSignature", "targets", good=("ota_1", "2.0.0"))


def test_revoked_key_image(world):
    # The metadata is current (signed by the new key) but the image is signed by the revoked
    # key: the image check runs against the rotated root, not the one the device booted with.
    w = world
    _rotate_targets_key(w)
    evil = w.image("9.0.0", keys=("targets.pem",))
    w.forge(add=[("esp32-4mb/stable/9.0.0.mpb", evil, None)])
    refused(w, w.boot(), "ota-refused", "signature-threshold", good=("ota_1", "2.0.0"))


def test_rotation_without_an_image_signed_by_the_new_key(world):
    # The running image is signed by the key a new root drops: the updater says so at once
    # (the boot stage will refuse that image from the next boot on) and status() is not ok.
    w = world
    w.add_key("targets", "targets-new.pem", replace=True)
    record = w.boot()
    assert output_line(record, "ota:") == "revoked" and not status(record)["ok"]
    assert w.ota_events()[-1] == ("ota-revoked", "signature-threshold", "running 1.0.0")


def test_malicious_mirror(world):
    w = world
    v2 = w.publish("2.0.0")
    target = next(w.repo_dir.glob("targets/esp32-4mb/stable/*.2.0.0.mpb"))
    altered = bytearray(v2)
    altered[len(v2) // 2] ^= 1
    target.write_bytes(bytes(altered))
    refused(w, w.boot(), "ota-refused", "LengthOrHashMismatch", "sha256")
    target.write_bytes(w.v1 + b"\xff" * (len(v2) - len(w.v1)))  # another valid image, same length
    refused(w, w.boot(), "ota-refused", "LengthOrHashMismatch", "sha256")


def test_root_rotation_that_skips_a_version(world):
    w = world
    checked(w)
    for name in ("targets-2.pem", "targets-3.pem"):
        w.add_key("targets", name)
    # serve root v3 where the device looks for v2
    w.metadata("3.root.json").replace(w.metadata("2.root.json"))
    refused(w, w.boot(), "ota-refused", "BadVersion", "root v3 after v1")
    assert w.state().root_version == 1


def test_target_for_another_board(world):
    w = world
    other = w.image("9.0.0", board="esp32-devkitc")
    # published honestly (for its board): this device does not even consider it
    w.publish_image(other)
    assert output_line(w.boot(), "ota:") == "current"
    # listed under this board's name, with custom fields that claim this board
    custom = {"board": "esp32-4mb", "chip_id": 0, "channel": "stable", "version": "9.0.1",
              "security_version": 1}
    w.forge(add=[("esp32-4mb/stable/9.0.1.mpb", other, custom)])
    refused(w, w.boot(), "ota-refused", "wrong-board")
