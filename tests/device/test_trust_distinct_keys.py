# One public key listed under two keyids (two key objects that differ only in an extra field,
# e.g. the keyid_hash_algorithms older TUF tools wrote, so both keyids are genuine) must count
# once towards a threshold: else whoever holds that one key meets a threshold of two alone
# (go-tuf GHSA-3633-5h82-39pq). Checked through the image signature path, on both runtimes.
import json

import devtest
from mpboot_fw import image, trust
from mpboot_fw.blockdev import BytesDevice
from mpboot_fw.trust import TrustError


def _read(name):
    with open(devtest.data_path(name), "rb") as f:
        return f.read()


def _root_listing_one_key_twice():
    """root.json's signed part with its first targets key listed a second time, under the
    keyid of the same key object plus an extra field; targets threshold 2. And that key's id."""
    signed = json.loads(_read("root.json"))["signed"]
    role = signed["roles"]["targets"]
    first = role["keyids"][0]
    twin = dict(signed["keys"][first])
    twin["keyid_hash_algorithms"] = ["sha256", "sha512"]
    twin_id = trust.keyid_of(twin)
    assert twin_id != first
    signed["keys"][twin_id] = twin
    role["keyids"] = [first, twin_id]
    role["threshold"] = 2
    return trust.parse_root(signed), first, twin_id


def test_one_key_under_two_keyids_counts_once():
    root, first, twin = _root_listing_one_key_twice()
    assert root.keys[first] == root.keys[twin]
    m = image.read_manifest(BytesDevice(_read("image.mpb")))
    sig = dict(m.signatures)[first]  # a genuine signature by that key over the manifest
    e = devtest.raises(TrustError, root.verify, "targets", m.signed, {first: sig, twin: sig})
    assert "1 of 2" in str(e), e
