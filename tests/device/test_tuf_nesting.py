# Metadata nested as deep as its byte cap allows (what a mirror can serve before any signature
# is checked) is refused as bad metadata on both runtimes: neither the parser nor the canonical
# encoder may take the device down (MicroPython parses iteratively; the encoder recurses, and a
# recursion past the limit is a RuntimeError there, RecursionError on CPython).
import devtest
from mpboot_fw import tuf
from mpboot_fw.trust import TrustError


def _read(name):
    with open(devtest.data_path("tuf/" + name), "rb") as f:
        return f.read()


NOW = int(_read("now.txt"))


def _nested(type_name, cap, opener, closer):
    head = b'{"signatures":[],"signed":{"_type":"' + type_name + b'","x":'
    tail = b'}}'
    depth = (cap - len(head) - len(tail)) // (len(opener) + len(closer))
    return head + opener * depth + closer * depth + tail


def test_deeply_nested_metadata_is_refused():
    for opener, closer in ((b"[", b"]"), (b'{"a":', b"}")):
        trusted = tuf.TrustedSet(_read("1.root.json"), NOW)
        data = _nested(b"timestamp", tuf.TIMESTAMP_MAX, opener, closer)
        assert tuf.TIMESTAMP_MAX - 8 < len(data) <= tuf.TIMESTAMP_MAX
        devtest.raises(TrustError, trusted.update_timestamp, data)
