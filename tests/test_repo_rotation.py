"""A targets-key rotation must not strand devices: the boot stage verifies the running image
against the newest root the device stored, so `mpboot repo rotate --role targets` refuses (unless
--force) while a listed image would fall below the new targets threshold, and the safe order
(add the new key, publish with it, stop listing the old images, remove the old key) goes through.
The verdicts are cross-checked with the device's code on the root actually written, and the
consequence on a device (refused boot after it takes the root) is shown on the emulated board."""

import json

import pytest

import clihelp
from mpboot import keys
from mpboot.errors import MpbootError
from mpboot.repo import maintain, publish as publish_mod
from mpboot.repo.store import Repository
from mpboot_fw import image, trust
from mpboot_fw.blockdev import BytesDevice
from otaworld import output_line, world  # noqa: F401 (fixture)
from repotest import key_dir, keyring, make_repo, tree, write_image


@pytest.fixture
def repo(tmp_path):
    """A development repository with 1.0.0 published, signed by its one targets key."""
    r = make_repo(tmp_path / "repo")
    publish(r, tmp_path, "1.0.0", [key_dir(r.dir) / "targets.pem"])
    keys.generate_keypair(tmp_path / "new.pem")
    return r


def publish(repo, tmp_path, version, key_files):
    path = write_image(tmp_path / ("%s.mpb" % version), key_files, version=version, seed=len(version) + ord(version[2]))
    return publish_mod.publish(repo, keyring(repo), path, "stable")


def rotate(repo_dir, role="targets", **kw):
    """maintain.rotate on the repository as it is on disk now (and the key files it remembers)."""
    r = Repository(repo_dir)
    return maintain.rotate(r, keyring(r), role, **kw)


def old_keyid(repo):
    return repo.root.roles["targets"].keyids[0]


def device_verdicts(repo_dir):
    """{target path: None or the failed check}: each listed image verified by the device's code
    against the newest root on disk, loaded as a device loads it."""
    r = Repository(repo_dir)
    anchor = trust.load_root(r.raw["root"])
    verdicts = {}
    for path, target in r.targets.targets.items():
        data = (repo_dir / "targets" / path.rsplit("/", 1)[0] / ("%s.%s" % (target.hashes["sha256"], path.rsplit("/", 1)[1])))
        try:
            image.verify_slot(BytesDevice(data.read_bytes()), anchor)
            verdicts[path] = None
        except image.ImageError as e:
            verdicts[path] = e.reason
    return verdicts


def test_removing_the_key_that_signed_a_listed_image_is_refused(repo, tmp_path):
    before = tree(repo.dir)
    with pytest.raises(MpbootError) as e:
        rotate(repo.dir, add=[tmp_path / "new.pem"], remove=[old_keyid(repo)])
    message = str(e.value)
    assert "\n" not in message
    assert message.startswith("devices would be stranded: esp32-4mb/stable/1.0.0.mpb is signed by fewer than 1 of the "
                              "new targets keys, so a device that takes this root can no longer boot it")
    assert "add the new key first (--add-key alone), publish images signed by it, then remove the old key" in message
    assert tree(repo.dir) == before  # nothing written, the key settings included


def test_raising_the_threshold_above_the_signatures_is_refused(repo, tmp_path):
    with pytest.raises(MpbootError, match="fewer than 2 of the new targets keys"):
        rotate(repo.dir, add=[tmp_path / "new.pem"], threshold=2)
    # With the images signed by both keys first, the same rotation is safe.
    rotate(repo.dir, add=[tmp_path / "new.pem"])
    r = Repository(repo.dir)
    publish(r, tmp_path, "1.1.0", [key_dir(r.dir) / "targets.pem", tmp_path / "new.pem"])
    publish_mod.prune(r, keyring(r), 1)
    report = rotate(repo.dir, threshold=2)
    assert report["stranded"] == [] and report["threshold"] == 2
    assert device_verdicts(repo.dir) == {"esp32-4mb/stable/1.1.0.mpb": None}


def test_the_safe_order_goes_through(repo, tmp_path):
    # 1. add the new key: both keys count, every listed image still verifies
    report = rotate(repo.dir, add=[tmp_path / "new.pem"])
    assert report["stranded"] == []
    # 2. publish with the new key (devices update to it while the old key still counts)
    r = Repository(repo.dir)
    publish(r, tmp_path, "1.1.0", [tmp_path / "new.pem"])
    # 3. removing the old key now would still strand 1.0.0, which is listed
    with pytest.raises(MpbootError, match="esp32-4mb/stable/1.0.0.mpb is signed by fewer than 1"):
        rotate(repo.dir, remove=[old_keyid(r)])
    # 4. stop listing the old image, then remove the old key
    r = Repository(repo.dir)
    publish_mod.prune(r, keyring(r), 1)
    report = rotate(repo.dir, remove=[old_keyid(r)])
    assert report["stranded"] == [] and report["removed"] == [old_keyid(r)]
    assert device_verdicts(repo.dir) == {"esp32-4mb/stable/1.1.0.mpb": None}


def test_force_rotates_and_names_what_it_strands(repo, tmp_path):
    """Forced (a compromised key): what the report calls stranded is exactly what the device code
    refuses against the root written."""
    r = Repository(repo.dir)
    publish(r, tmp_path, "1.1.0", [key_dir(r.dir) / "targets.pem", tmp_path / "new.pem"])
    report = rotate(repo.dir, add=[tmp_path / "new.pem"], remove=[old_keyid(r)], force=True)
    assert report["stranded"] == ["esp32-4mb/stable/1.0.0.mpb"]
    assert device_verdicts(repo.dir) == {"esp32-4mb/stable/1.0.0.mpb": "signature-threshold",
                                         "esp32-4mb/stable/1.1.0.mpb": None}


def test_other_roles_are_not_checked(repo, tmp_path):
    report = rotate(repo.dir, "timestamp", add=[tmp_path / "new.pem"], remove=[repo.root.roles["timestamp"].keyids[0]])
    assert report["stranded"] == []


def test_cli(repo, tmp_path, capsys):
    old = old_keyid(repo)[:12]
    args = ("repo", "rotate", repo.dir, "--role", "targets", "--add-key", tmp_path / "new.pem", "--remove-key", old)
    line = clihelp.fails(capsys, *args, match="devices would be stranded: esp32-4mb/stable/1.0.0.mpb")
    assert "add the new key first" in line and "or --force (a compromised key)" in line
    r = clihelp.run(capsys, *args, "--force", "--json")
    assert r.code == 0, r.err
    assert json.loads(r.out)["stranded"] == ["esp32-4mb/stable/1.0.0.mpb"]
    assert r.err.startswith("WARNING: esp32-4mb/stable/1.0.0.mpb no longer verifies: a device running it that takes "
                            "the new root without a newer image signed by the new keys cannot boot it again")


def test_a_stranded_device_cannot_boot_its_image(world):
    """What the refusal prevents, on the emulated board: the device takes the forced rotation on
    its next check (nothing newer is published), and from its next boot on the boot stage refuses
    the image it runs; with no other verified slot it holds the application back (recovery)."""
    w = world
    w.add_key("targets", "targets-new.pem", replace=True)  # forced, as --force would
    record = w.boot()
    assert output_line(record, "ota:") == "revoked" and w.state().root_version == 2
    record = w.boot()
    assert record.output[:2] == ["mpboot: boot 2: boot-refused signature-threshold ota_0",
                                 "mpboot: boot 2: recovery bad-app ota_1"], record.output
    events = [e[1:3] for e in w.state().events()]
    assert ("boot-refused", "signature-threshold") in events and events[-1][0] == "recovery", events
    assert not any(line.startswith("ota") for line in record.output)  # main.py did not run
