# trust.load_envelope with `select` (a scoped tuf.TrustedSet's targets): a compact canonical
# document is parsed a member at a time (cjson.load_object), never whole beside its bytes; every
# other document whole, then cut. Either way the answer must be the same, and the signed bytes
# must be the canonical encoding of the whole `signed` object as json.loads reads the document,
# dropped entries included: what the signature covers is exactly what was parsed.
import json

import devtest
from mpboot_fw import cjson, trust, tuf
from mpboot_fw.trust import TrustError

DOCUMENTS = ["tuf/1.targets.json", "tuf/2.targets.json", "tuf/3.targets.json",
             "tuf_delegations/1.esp32-4mb.json", "tuf_delegations/2.targets.json",
             "tuf_delegations/1.bins%208-f.json", "tuf_delegations/1.legacy.json"]


def _read(name):
    with open(devtest.data_path(name), "rb") as f:
        return f.read()


def _selects():
    return [tuf._selector(("esp32-4mb/stable/",)), tuf._selector(("esp32/stable/", "esp32-4mb/beta/")),
            lambda path, entry: entry, lambda path, entry: cjson.DROP]


def _answer(data, select):
    """load_envelope's answer with `select`, or its error's text."""
    try:
        signed, message, signatures = trust.load_envelope(data, "targets", select)
    except TrustError as e:
        return "error: " + str(e)
    return signed, bytes(message), signatures


def _expected(data, select):
    """The same answer without `select` (parsed whole), cut afterwards as select says."""
    try:
        signed, message, signatures = trust.load_envelope(data, "targets")
    except TrustError as e:
        return "error: " + str(e)
    targets = signed.get("targets")
    if isinstance(targets, dict):
        kept = {}
        for path in targets:
            entry = select(path, targets[path])
            if entry is not cjson.DROP:
                kept[path] = entry
        signed["targets"] = kept
    return signed, bytes(message), signatures


def _check(data, select, fast):
    got = _answer(data, select)
    assert got == _expected(data, select), data[:80]
    assert (trust._load_selected(data, select) is not None) == fast, data[:80]
    if not isinstance(got, str):
        # the signed bytes: the canonical form of everything signed, dropped entries too
        assert got[1] == cjson.encode(json.loads(data)["signed"]), data[:80]
    return got


def test_compact_canonical_documents_are_parsed_a_member_at_a_time():
    for name in DOCUMENTS:
        data = _read(name)
        for select in _selects():
            _check(data, select, True)
            _check(bytearray(data), select, True)  # the updater's document buffer
            _check(data + b"\n", select, True)


def test_the_scoped_selection_keeps_its_directories_and_the_fields_a_device_reads():
    data = _read("tuf_delegations/1.esp32-4mb.json")
    whole = json.loads(data)["signed"]["targets"]
    signed = trust.load_envelope(data, "targets", tuf._selector(("esp32-4mb/stable/",)))[0]
    assert sorted(signed["targets"]) == ["esp32-4mb/stable/1.0.0.mpb"]
    assert len(whole) > 1
    entry = signed["targets"]["esp32-4mb/stable/1.0.0.mpb"]
    assert entry["hashes"] == whole["esp32-4mb/stable/1.0.0.mpb"]["hashes"]
    assert entry["length"] == whole["esp32-4mb/stable/1.0.0.mpb"]["length"]
    assert entry["custom"] == whole["esp32-4mb/stable/1.0.0.mpb"]["custom"]  # device fields only there
    # fields a device does not read are signed but not kept
    doc = json.loads(data)
    doc["signed"]["targets"]["esp32-4mb/stable/1.0.0.mpb"]["custom"]["payload_sha256"] = "ab" * 32
    doc["signed"]["targets"]["esp32-4mb/stable/1.0.0.mpb"]["custom"]["zzz"] = [1, {"a": None}]
    data = b'{"signatures":' + cjson.encode(doc["signatures"]) + b',"signed":' + cjson.encode(doc["signed"]) + b"}"
    got = _check(data, tuf._selector(("esp32-4mb/stable/",)), True)
    assert got[0]["targets"]["esp32-4mb/stable/1.0.0.mpb"]["custom"] == whole["esp32-4mb/stable/1.0.0.mpb"]["custom"]
    assert b"payload_sha256" in got[1] and b"zzz" in got[1]


def _variants(data):
    """Documents that are not a compact canonical envelope, each in a different way."""
    start = data.find(b'"signed":')
    signatures = data[len(b'{"signatures":'):start - 1]
    signed = data[start + len(b'"signed":'):-1]
    first = signed.find(b'"targets":{') + len(b'"targets":{')
    entry_end = cjson.value_end(memoryview(signed), signed.find(b":", first) + 1, len(signed))
    entry = signed[first:entry_end]
    return [
        b'{"signed":' + signed + b',"signatures":' + signatures + b"}",  # the other order
        b'{"signatures":' + signatures + b', "signed":' + signed + b"}",  # whitespace
        b' {"signatures":' + signatures + b',"signed":' + signed + b"}",
        b'{"signatures":' + signatures + b',"signed":' + signed + b',"x":1}',  # a third member
        b'{"signatures":' + signatures + b',"signed":' + signed.replace(b'":', b'": ', 1) + b"}",
        b'{"signatures":' + signatures + b',"signed":' + signed.replace(b',"', b', "', 3) + b"}",
        # inside the targets: a space, an escape, an entry twice, entries out of order, a float
        b'{"signatures":' + signatures + b',"signed":' + signed.replace(b'"length":', b'"length" :', 1) + b"}",
        b'{"signatures":' + signatures + b',"signed":' + signed.replace(b'esp32', b'esp\\u0033', 1) + b"}",
        b'{"signatures":' + signatures + b',"signed":' + signed[:first] + entry + b"," + signed[first:] + b"}",
        b'{"signatures":' + signatures + b',"signed":' + signed[:first] + b'"~last":{},' + signed[first:] + b"}",
        b'{"signatures":' + signatures + b',"signed":' + signed.replace(b'"length":', b'"length":1.5,"x":', 1) + b"}",
        b'{"signatures":' + signatures + b',"signed":' + signed.replace(b'"version":', b'"version":-0,"z":', 1) + b"}",
        # a document that is no envelope at all
        b'{"signatures":' + signatures + b',"signed":' + signatures + b"}",
    ]


def test_every_other_document_is_parsed_whole_with_the_same_answer():
    for name in ("tuf/2.targets.json", "tuf_delegations/1.esp32-4mb.json"):
        for variant in _variants(_read(name)):
            for select in _selects()[:2]:
                _check(variant, select, False)
        # canonical, but the targets are not an object: parsed as one value, refused later
        data = _read(name)
        start = data.find(b'"signed":')
        listed = data[:start] + data[start:].replace(b'"targets":{', b'"targets":[{', 1).replace(b'},"version"', b'}],"version"', 1)
        got = _check(listed, _selects()[0], True)
        assert isinstance(got[0]["targets"], list)
        # canonical `signed`, signatures not a list: refused by the same check either way
        got = _check(b'{"signatures":{},"signed":' + data[start + len(b'"signed":'):], _selects()[0], True)
        assert got == "error: targets: no signed/signatures"


def test_mutated_documents_get_the_same_answer_either_way():
    # Deterministic byte edits (a linear congruential generator: the same on both runtimes):
    # replaced, deleted or inserted bytes, picked from those JSON gives meaning to.
    data = _read("tuf_delegations/1.esp32-4mb.json")
    alphabet = b'{}[]":,\\ 0123456789.-eEtrufalsn"ab/'
    select = tuf._selector(("esp32-4mb/stable/", "esp32/stable/"))
    x = 12345
    fast = 0
    for _ in range(160):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        i = x % len(data)
        c = alphabet[(x >> 12) % len(alphabet)]
        kind = (x >> 20) % 3
        if kind == 0:
            mutated = data[:i] + bytes([c]) + data[i + 1:]
        elif kind == 1:
            mutated = data[:i] + data[i + 1:]
        else:
            mutated = data[:i] + bytes([c]) + data[i:]
        got = _answer(mutated, select)
        assert got == _expected(mutated, select), (i, c, kind)
        if not isinstance(got, str):
            assert got[1] == cjson.encode(json.loads(mutated)["signed"]), (i, c, kind)
        try:
            cjson.check_syntax(mutated, trust.MAX_DEPTH)  # _load_selected's precondition
        except ValueError:
            assert isinstance(got, str) and "not JSON" in got
            continue
        if trust._load_selected(mutated, select) is not None:
            fast += 1
    assert fast > 10  # (edits inside a signature's hex, which the fast path also takes)


def test_value_end_skips_strings_with_brackets_and_quotes():
    text = b'{"a":["}\\"]",{"b":"\\\\"}],"c":-12e3,"d":true}'
    cjson.check_syntax(text, 8)
    mv = memoryview(text)
    assert cjson.value_end(mv, 5, len(text)) == text.index(b',"c"')
    assert cjson.value_end(mv, text.index(b"-12"), len(text)) == text.index(b',"d"')
    assert cjson.value_end(mv, 0, len(text)) == len(text)
    loaded = cjson.load_object(text, 0, "a", lambda k, v: v)
    assert loaded is None  # a float: not canonical
    text = b'{"a":{"x":["}"],"y":{}},"b":null}'
    obj, end = cjson.load_object(text, 0, "a", lambda k, v: cjson.DROP if k == "x" else v)
    assert obj == {"a": {"y": {}}, "b": None} and end == len(text)
