# The trust anchor (TUF root metadata) on both runtimes. The roots in data/ are built by
# tests/make_device_data.py (python-tuf for the good one; hand-signed broken variants with
# genuine signatures); tests/test_trust_oracle.py checks python-tuf's verdict on the same files.
import json
from binascii import unhexlify

import devtest
from mpboot_fw import cjson, trust
from mpboot_fw.trust import TrustError


def _read(name):
    with open(devtest.data_path(name), "rb") as f:
        return f.read()


def _root_error(data, trusted=None):
    return str(devtest.raises(TrustError, trust.load_root, data, trusted))


def _mutated(change):
    doc = json.loads(_read("root.json"))
    change(doc["signed"])
    return json.dumps(doc)


def _role_keyids(doc_signed, role):
    return doc_signed["roles"][role]["keyids"]


def test_good_root_loads_with_its_fields():
    doc = json.loads(_read("root.json"))["signed"]
    root = trust.load_root(_read("root.json"))
    assert root.version == 1
    assert root.expires == doc["expires"] == "2027-01-01T00:00:00Z"
    assert root.expires_at == trust.parse_time("2027-01-01T00:00:00Z")
    assert root.consistent_snapshot is True
    for name in trust.ROLE_NAMES:
        assert root.roles[name] == (tuple(_role_keyids(doc, name)), doc["roles"][name]["threshold"])
    assert root.roles["root"][1] == 2 and root.roles["targets"][1] == 2
    assert sorted(root.keys) == sorted(doc["keys"])
    for keyid, public in root.keys.items():
        assert len(public) == 32
        assert trust.keyid_of(trust.ed25519_key_object(public)) == keyid


def test_expiry_is_an_integer_comparison():
    root = trust.load_root(_read("root.json"))
    assert not root.expired(root.expires_at - 1)
    assert root.expired(root.expires_at)


def test_below_threshold_is_rejected():
    assert _root_error(_read("root_one_signature.json")) == "threshold: 1 of 2 root signatures"


def test_two_signatures_with_one_keyid_are_rejected():
    assert _root_error(_read("root_duplicate_signature.json")) == "duplicate signature keyid"


def test_a_keyid_listed_twice_in_a_role_is_rejected():
    assert _root_error(_read("root_role_duplicate_keyid.json")) == "root: duplicate keyid in root"


def test_keyids_are_recomputed():
    assert _root_error(_read("root_keyid_mismatch.json")).startswith("root: keyid mismatch")


def test_other_key_types_are_allowed_but_never_counted():
    doc = json.loads(_read("root_other_keytype.json"))["signed"]
    root = trust.load_root(_read("root_other_keytype.json"))
    targets = root.roles["targets"][0]
    assert len(targets) == 3
    foreign = [k for k in targets if doc["keys"][k]["keytype"] != "ed25519"]
    assert len(foreign) == 1 and foreign[0] not in root.keys


def test_verify_role_counts_each_key_once():
    doc = json.loads(_read("root.json"))
    message = cjson.encode(doc["signed"])
    sigs = {}
    for entry in doc["signatures"]:
        sigs[entry["keyid"]] = unhexlify(entry["sig"])
    root = trust.load_root(_read("root.json"))
    r1, r2 = root.roles["root"][0]
    trust.verify_role(root.keys, ((r1, r2), 2), message, sigs, "root")
    e = devtest.raises(TrustError, trust.verify_role, root.keys, ((r1, r1), 2), message, sigs, "root")
    assert str(e) == "threshold: 1 of 2 root signatures"
    # A genuine signature claimed under another authorized keyid does not verify.
    t1 = root.roles["targets"][0][0]
    e = devtest.raises(TrustError, trust.verify_role, root.keys, ((t1,), 1), message, {t1: sigs[r1]}, "targets")
    assert str(e) == "threshold: 0 of 1 targets signatures"
    # A signer outside the role does not count, and the message is bound.
    devtest.raises(TrustError, trust.verify_role, root.keys, ((t1, r2), 2), message, sigs, "x")
    devtest.raises(TrustError, trust.verify_role, root.keys, ((r1, r2), 1), message + b" ", sigs, "x")


def test_rotation_needs_old_and_new_thresholds_and_the_next_version():
    v1 = trust.load_root(_read("root.json"))
    v2 = trust.load_root(_read("root_v2.json"), v1)
    assert v2.version == 2 and v2.roles["root"][0] != v1.roles["root"][0]
    # Each of these is self-consistent (it loads as an anchor on its own) but is no successor.
    trust.load_root(_read("root_v2_new_keys_only.json"))
    assert _root_error(_read("root_v2_new_keys_only.json"), v1) == "threshold: 0 of 2 root signatures"
    assert _root_error(_read("root_v2_old_keys_only.json"), v1) == "threshold: 0 of 2 root signatures"
    assert _root_error(_read("root_v3.json"), v1) == "root version 3 after 1"
    assert _root_error(_read("root.json"), v1) == "root version 1 after 1"


def test_any_change_to_signed_breaks_the_signatures():
    def later(s):
        s["expires"] = "2099-01-01T00:00:00Z"

    def unknown_field(s):
        s["x-extra"] = 1

    def lower_threshold(s):
        s["roles"]["targets"]["threshold"] = 1

    for change in (later, unknown_field, lower_threshold):
        assert _root_error(_mutated(change)) == "threshold: 0 of 2 root signatures"


def test_structure_is_checked_strictly():
    def setter(key, value):
        def change(s):
            s[key] = value

        return change

    def role_field(role, key, value):
        def change(s):
            s["roles"][role][key] = value

        return change

    def drop_role(s):
        del s["roles"]["timestamp"]

    def extra_role(s):
        s["roles"]["mirrors"] = {"keyids": [], "threshold": 1}

    def bad_public(s):
        keyid = s["roles"]["root"]["keyids"][0]
        s["keys"][keyid]["keyval"]["public"] = "zz" * 32

    cases = [
        (setter("_type", "targets"), "root: wrong _type"),
        (setter("version", 0), "root: bad version"),
        (setter("version", "1"), "root: bad version"),
        (setter("version", True), "root: bad version"),
        (setter("spec_version", "2.0.0"), "root: unsupported spec_version"),
        (setter("spec_version", "1.x"), "root: unsupported spec_version"),
        (setter("consistent_snapshot", 1), "root: bad consistent_snapshot"),
        (setter("keys", []), "root: no keys/roles"),
        (setter("expires", "2027-02-29T00:00:00Z"), "bad time"),
        (setter("expires", 1.5), "root: not canonical JSON"),
        (drop_role, "root: roles must be root/snapshot/targets/timestamp"),
        (extra_role, "root: roles must be root/snapshot/targets/timestamp"),
        (role_field("targets", "threshold", 0), "root: bad role targets"),
        (role_field("targets", "threshold", "1"), "root: bad role targets"),
        (role_field("root", "keyids", "abc"), "root: bad role root"),
        (role_field("root", "keyids", [1]), "root: bad role root"),
        (bad_public, "root: keyid mismatch"),
    ]
    for change, expected in cases:
        message = _root_error(_mutated(change))
        assert message.startswith(expected), (expected, message)


def test_envelopes_that_are_not_metadata():
    for data, expected in (
        (b"", "root: not JSON (json: unexpected end)"),
        (b"\xff\xfe", "root: not JSON (json: unexpected byte at 0)"),
        (b"[1]", "root: not an object"),
        (b"{}", "root: no signed/signatures"),
        (b'{"signed": {"_type": "root"}, "signatures": {}}', "root: no signed/signatures"),
        (b'{"signed": {"_type": "root"}, "signatures": [{"keyid": 1, "sig": ""}]}', "root: bad signature entry"),
        (b'{"signed": {"_type": "root"}, "signatures": ["x"]}', "root: bad signature entry"),
    ):
        assert _root_error(data) == expected, (data, expected)


def test_a_signature_that_is_not_hex_counts_as_missing():
    doc = json.loads(_read("root.json"))
    doc["signatures"][0]["sig"] = "not hex"
    assert _root_error(json.dumps(doc)) == "threshold: 1 of 2 root signatures"


def test_parse_time():
    assert trust.parse_time("1970-01-01T00:00:00Z") == 0
    assert trust.parse_time("1969-12-31T23:59:59Z") == -1
    assert trust.parse_time("2000-02-29T12:34:56Z") == 951827696
    assert trust.parse_time("2038-01-19T03:14:08Z") == 2**31
    assert trust.parse_time("9999-12-31T23:59:59Z") == 253402300799
    for bad in ("2001-02-29T00:00:00Z", "2026-13-01T00:00:00Z", "2026-00-10T00:00:00Z",
                "2026-01-01T24:00:00Z", "2026-01-01T00:60:00Z", "2026-01-01T00:00:60Z",
                "2026-01-01 00:00:00Z", "2026-01-01T00:00:00+0", "+026-01-01T00:00:00Z",
                "2026-01-01T00:00:00z", "2026-01-01T00:00:00", "", None, 20260101):
        devtest.raises(TrustError, trust.parse_time, bad)
