"""A release signed inside a PKCS#11 token (SoftHSM2, real) installs on the emulated board: the
repository's targets key is rotated to a key made in the token, the image and the targets
metadata are signed there, and the device follows the new root and installs the image."""

import pytest

import appbuilder
from hsmtoken import make_token
from mpboot import hsm, keys, signing
from mpboot.repo.keyring import KeyRing
from mpboot.repo.maintain import rotate
from mpboot.repo.publish import publish
from otaworld import World


@pytest.mark.parametrize("key_type", ["ed25519", "ecdsa"])
def test_a_device_installs_a_release_signed_in_a_token(tmp_path, monkeypatch, micropython, key_type):
    token = make_token(tmp_path / "hsm", monkeypatch)
    uri = token.uri("targets")
    hsm.generate(uri, key_type)
    w = World(tmp_path, micropython)
    try:
        repo = w.repo()
        in_token = KeyRing(repo.dir, repo.settings, {"targets": [uri]})
        rotate(repo, in_token, "targets", add=[uri], remove=[str(w.keys / "targets.pem")], force=True)
        app = appbuilder.build(version="2.0.0", seed=2)
        data = signing.sign_app(app, [keys.load_private_key(uri)], "2.0.0", 1, 0, board="esp32-4mb")
        (tmp_path / "v2.mpb").write_bytes(data)
        repo = w.repo()
        publish(repo, KeyRing(repo.dir, repo.settings, {"targets": [uri]}), tmp_path / "v2.mpb", "stable")
        assert w.boot().outcome == "reset"
        record = w.boot()
        assert (record.app["version"], w.state().root_version) == ("2.0.0", 2)
        root = w.repo().root
        (targets_keyid,) = root.roles["targets"].keyids
        assert targets_keyid == keys.tuf_key(keys.load_public_key(uri)).keyid
        assert root.keys[targets_keyid].keytype == key_type
    finally:
        w.close()
