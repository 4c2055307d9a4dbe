# The OTA bundle install's stream (mpboot_fw.bundlefetch) on every runtime: header and manifest
# built from the manifest bytes, each file from the active copy when its hash is unchanged, else
# from a fetcher (here a fake with the Fetcher reader's interface, serving files/sha256/<hex>),
# and bundle.verify_stream checking it all. The network side is tests/test_ota_bundle.py's.
import os
import struct
from binascii import hexlify

import devtest
from mpboot_fw import bundle, bundlefetch, trust
from mpboot_fw.bundle import BundleError


def _read(name):
    with open(devtest.data_path(name), "rb") as f:
        return f.read()


ROOT = trust.load_root(_read("root.json"))
GOOD = _read("bundle/good.mpbundle")
MANIFEST = GOOD[16:16 + struct.unpack_from("<I", GOOD, 8)[0]]
DEVICE = {"chip_id": 0, "board": "esp32-4mb"}
COPY = "/tmp/bf-copy"


class Fetcher:
    """Fetcher.open/readinto/close over {hex: bytes}, at most 5 bytes a read (a slow socket)."""

    def __init__(self, files):
        self.files = files
        self.opened = []
        self.closed = []

    def open(self, url, length):
        assert len(self.closed) == len(self.opened)  # one file's connection at a time
        self.opened.append((url, length))
        self.data = self.files[url.rsplit("/", 1)[1]]
        self.pos = 0

    def readinto(self, mv):
        n = min(len(mv), 5, len(self.data) - self.pos)
        mv[:n] = self.data[self.pos:self.pos + n]
        self.pos += n
        return n

    def close(self, check=False):
        self.closed.append(check)


def _files():
    b = bundlefetch.unverified(MANIFEST)
    out = {}
    at = 16 + len(MANIFEST)
    for path, size, digest in b.files:
        out[path] = (GOOD[at:at + size], hexlify(digest).decode())
        at += size
    return b, out


def _rmtree(path):
    try:
        names = os.listdir(path)
    except OSError:
        return
    for n in names:
        full = path + "/" + n
        if os.stat(full)[0] & 0x4000:
            _rmtree(full)
        else:
            os.remove(full)
    os.rmdir(path)


def _copy(files):
    """The active copy at COPY holding `files` {path: bytes}, its kept manifest beside it."""
    _rmtree(COPY)
    os.mkdir(COPY)
    for path, data in files.items():
        parts = path.split("/")
        for k in range(1, len(parts)):
            try:
                os.mkdir(COPY + "/" + "/".join(parts[:k]))
            except OSError:
                pass
        with open(COPY + "/" + path, "wb") as f:
            f.write(data)
    with open(COPY + ".mpbm", "wb") as f:
        f.write(MANIFEST)


def _stream(served, local):
    new, files = _files()
    _copy(local)
    active = bundlefetch.kept(COPY + ".mpbm")
    fetcher = Fetcher(served)
    return bundlefetch.Stream(fetcher, "https://u/", MANIFEST, bundlefetch.plan(new, active), COPY), fetcher, files


def test_unchanged_files_come_from_the_active_copy_the_rest_from_files_sha256():
    new, files = _files()
    served = dict((h, data) for data, h in files.values())
    # main.py is in the copy as listed; lib/util.py has another size there (so it is fetched,
    # never read short); data/blob.bin is missing from the copy; empty.txt needs no request.
    local = {"main.py": files["main.py"][0], "lib/util.py": b"changed\n"}
    stream, fetcher, _ = _stream(served, local)
    b = bundle.verify_stream(stream, ROOT, **DEVICE)
    assert b.version == new.version and b.length == len(GOOD)
    assert fetcher.opened == [("https://u/files/sha256/" + files[p][1], len(files[p][0]))
                              for p in ("lib/util.py", "data/blob.bin")]
    assert fetcher.closed == [True, True]  # each body checked to end at its size
    assert (stream.downloaded, stream.copied, stream.requests) == (2, 1, 2)
    assert stream.downloaded_bytes == len(files["lib/util.py"][0]) + len(files["data/blob.bin"][0])
    assert stream.copied_bytes == len(files["main.py"][0])


def test_the_stream_is_the_bundle_file_byte_for_byte():
    _, files = _files()
    local = dict((p, files[p][0]) for p in files)
    stream, fetcher, _ = _stream({}, local)
    out = bytearray()
    buf = bytearray(7)
    mv = memoryview(buf)
    while True:
        n = stream.readinto(mv)
        if not n:
            break
        out += buf[:n]
    assert bytes(out) == GOOD and fetcher.opened == []


def test_other_bytes_from_the_server_or_the_copy_are_refused():
    _, files = _files()
    served = dict((h, data) for data, h in files.values())
    h = files["data/blob.bin"][1]
    served[h] = served[h][:-1] + b"!"  # a tampered content-addressed file
    stream, fetcher, _ = _stream(served, {})
    e = devtest.raises(BundleError, bundle.verify_stream, stream, ROOT, **DEVICE)
    assert e.reason == "file-hash" and str(e) == "file-hash: data/blob.bin"
    stream.close()
    assert len(fetcher.closed) == len(fetcher.opened)
    # a file changed in the active copy after its manifest was kept, same size: hashed again
    data = files["main.py"][0]
    stream, _, _ = _stream(dict((h, d) for d, h in files.values()), {"main.py": data[:-1] + b"#"})
    e = devtest.raises(BundleError, bundle.verify_stream, stream, ROOT, **DEVICE)
    assert str(e) == "file-hash: main.py"


def test_unverified_checks_fields_but_not_signatures_and_kept_tolerates_no_copy():
    b = bundlefetch.unverified(MANIFEST)
    assert len(b.files) == 4 and not hasattr(b, "keyids")  # no signature was looked at
    assert devtest.raises(BundleError, bundlefetch.unverified, b"{").reason == "bad-manifest"
    assert devtest.raises(BundleError, bundlefetch.unverified, b'{"signed":{"_type":"targets"}}').reason == "bad-manifest"
    _rmtree(COPY)
    try:
        os.remove(COPY + ".mpbm")
    except OSError:
        pass
    assert bundlefetch.kept(COPY + ".mpbm") is None
    plan = bundlefetch.plan(b, None)
    assert [p[2] for p in plan] == [None] * len(b.files)
