# What the device logs must not depend on the runtime: messages the fuzzer found differing
# between CPython and MicroPython (fuzz/crashes/cjson, fuzz/crashes/root).
import json

import devtest
from mpboot_fw import cjson, trust


def test_a_lone_surrogate_is_refused_with_one_message():
    # CPython's str.encode raised UnicodeEncodeError; MicroPython encoded it and cjson refused.
    for text in ("\ud800", "a\udfffb"):
        e = devtest.raises(ValueError, cjson.encode, {"k": text})
        assert str(e) == "cjson: lone surrogate", str(e)


def test_a_keyid_mismatch_names_only_a_hex_keyid():
    with open(devtest.data_path("root.json"), "rb") as f:
        doc = json.loads(f.read())
    keys = doc["signed"]["keys"]
    some = sorted(keys)[0]
    # An escaped surrogate pair is one character on CPython and two on MicroPython: a keyid
    # made of it must not end up in the log differently.
    text = json.dumps(doc).replace('"keys": {', '"keys": {"\\ud83d\\ude00x": %s, ' % json.dumps(keys[some]), 1)
    e = devtest.raises(trust.TrustError, trust.load_root, text.encode())
    assert str(e) == "root: keyid mismatch (not hex)", str(e)
    e = devtest.raises(trust.TrustError, trust.load_root, text.replace("\\ud83d\\ude00x", "0" * 64).encode())
    assert str(e) == "root: keyid mismatch " + "0" * 16, str(e)


def test_the_first_bad_field_named_does_not_depend_on_dict_order():
    # Two unknown fields (fuzz seed 2): the runtimes iterate a dict in different orders.
    from mpboot_fw import config, otaconfig

    for keys in (("chip_iolicy", "hennel"), ("hennel", "chip_iolicy"), ("zz", "aa", "mm")):
        doc = {}
        for k in keys:
            doc[k] = 1
        e = devtest.raises(config.ConfigError, config.check, doc)
        assert str(e) == "unknown field " + sorted(keys)[0], str(e)
    bad = {"url": "https://a/", "ca": "/ca.pem", "timeout_ms": "x", "min_rate": "y", "stale_after": "z"}
    e = devtest.raises(otaconfig.OtaConfigError, otaconfig.check, bad)
    assert str(e) == "min_rate must be a positive integer", str(e)
