"""Host-side targets (CPython only): otadata, the partition table, HTTP responses to the
device's fetch, and requests to `mpboot serve`."""

import binascii
import hashlib
import io
import random
import struct
import tempfile
from pathlib import Path

import devtargets
from mpboot.espidf import otadata, partition_table as pt
from mpboot_fw import fetch
from targets import Target

PropertyError = devtargets.PropertyError


class OtadataTarget(Target):
    """Both entries, the active one, and the rewrite that must make a chosen slot boot."""
    name = "otadata"
    fix_rate = 0.6

    def setup(self):
        img = bytearray(otadata.initial_image(0))
        e = otadata.read(img)
        sector, entry = otadata.boot_slot_entry(e, 1, 2)
        img[sector * otadata.SECTOR:sector * otadata.SECTOR + 32] = entry.encode()
        self.seeds = [otadata.initial_image(0), otadata.initial_image(1), bytes(img), b"\xff" * 0x2000]
        self.focus = [(0, 32)] * len(self.seeds)

    def fix(self, rng, data):
        out = bytearray(data)
        for base in (0, otadata.SECTOR):
            if base + 32 <= len(out):
                seq = struct.unpack_from("<I", out, base)[0]
                struct.pack_into("<I", out, base + 28, otadata.seq_crc(seq))
        return bytes(out)

    def check(self, data, info):
        raw = bytes(data[:0x2000]).ljust(0x2000, b"\xff")
        entries = otadata.read(raw)
        [e.describe() for e in entries]
        active = otadata.select(entries)
        for slots in (2, 3):
            for slot in range(slots):
                sector, entry = otadata.boot_slot_entry(entries, slot, slots)
                if active >= 0 and (entry.seq == 0xFFFFFFFF or entry.seq < entries[active].seq
                                    or entries[active].seq == 0):
                    # ESP-IDF's uint32 loop wrapped (0xFFFFFFFF reads as erased, a lower number
                    # loses to the active one), or the active entry has sequence 0, which ESP-IDF
                    # never writes and whose slot its arithmetic gets wrong: the switch does not
                    # happen on a board either (the model is checked against ESP-IDF's C loop in
                    # tests/test_otadata.py). Reaching it takes ~2^32 updates or writing otadata
                    # by hand.
                    continue
                new = list(entries)
                new[sector] = otadata.OtaEntry.decode(entry.encode())
                chosen = otadata.select(new)
                if chosen < 0 or otadata.slot_of(new[chosen], slots) != slot:
                    raise PropertyError("after rewriting for slot %d of %d the bootloader picks %s" % (
                        slot, slots, chosen if chosen < 0 else otadata.slot_of(new[chosen], slots)))
        return "ok:%d" % active


class PartitionTableTarget(Target):
    name = "partition_table"
    fix_rate = 0.6

    def setup(self):
        parts = [pt.Partition("nvs", 1, 2, 0x9000, 0x6000, 0), pt.Partition("otadata", 1, 0, 0xF000, 0x2000, 0),
                 pt.Partition("ota_0", 0, 0x10, 0x20000, 0x180000, 0),
                 pt.Partition("ota_1", 0, 0x11, 0x1A0000, 0x180000, 0),
                 pt.Partition("mpboot", 1, 0x06, 0x320000, 0x4000, 1)]
        self.seeds = [pt.to_binary(parts), pt.to_binary(parts[:3])]
        self.focus = [(0, 32 * 6)] * len(self.seeds)

    def fix(self, rng, data):
        """Rewrite the MD5 row of the rows before the first row that is not an entry."""
        out = bytearray(data[:pt.TABLE_MAX_LEN])
        pos = 0
        while pos + 32 <= len(out) and out[pos:pos + 2] == pt.MAGIC:
            pos += 32
        if pos + 32 > len(out):
            return data
        out[pos:pos + 16] = pt.MD5_MAGIC + b"\xff" * 14
        out[pos + 16:pos + 32] = hashlib.md5(bytes(out[:pos])).digest()
        return bytes(out) + bytes(data[pt.TABLE_MAX_LEN:])

    def check(self, data, info):
        try:
            parts = pt.from_binary(data)
            [p.describe() for p in parts]
            pt.validate(parts, 4 << 20)
        except pt.PartitionTableError as e:
            return "E:" + str(e)
        again = pt.from_binary(pt.to_binary(parts))
        if again != parts:
            raise PropertyError("a valid table does not survive to_binary/from_binary")
        return "ok:%d" % len(parts)


class _Sink:
    def __init__(self):
        self.data = bytearray()

    def write(self, mv):
        self.data += mv

    def reset(self):
        self.data = bytearray()


class _FakeFetcher(fetch.Fetcher):
    """The real Fetcher with the socket replaced by the input: the HTTP reader sees the bytes
    in pieces whose sizes come from the input too."""

    def feed(self, response, pieces):
        self._response = response
        self._pieces = pieces

    def _open(self, host, port):
        self._moved = 0
        self._pos = 0
        self._s = True
        self.opens = getattr(self, "opens", 0) + 1

    def _close(self):
        self._s = None

    def _send_all(self, text):
        self.sent = text

    def _recv(self, mv):
        if self._pos >= len(self._response):
            return 0
        n = min(len(mv), self._pieces[self._pos % len(self._pieces)], len(self._response) - self._pos)
        mv[:n] = self._response[self._pos:self._pos + n]
        self._pos += n
        return n


class FetchTarget(Target):
    """HTTP responses to fetch: a metadata fetch, a download, or a resumed range request."""
    name = "fetch"

    def setup(self):
        body = bytes(range(256)) * 20
        head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nContent-Type: application/json\r\n\r\n" % len(body)
        self.body = body
        self.seeds = [
            b"\x00" + head + body,
            b"\x01" + head + body,
            b"\x02" + b"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 4096-5119/5120\r\nContent-Length: 1024\r\n\r\n"
            + body[4096:],
            b"\x00HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + body[:700],
            b"\x01HTTP/1.0 404 Not Found\r\nContent-Length: 3\r\n\r\nno\n",
            b"\x02HTTP/1.1 200 OK\r\nContent-Length: 5120\r\n\r\n" + body,
        ]
        self.focus = [(0, 120)] * len(self.seeds)
        from tests_pki import ca_der

        self.fetcher = _FakeFetcher(ca_der(), block=1024, attempts=3, retries=1, sleep_ms=lambda ms: None)

    def check(self, data, info):
        if not data:
            return "empty"
        mode, response = data[0] % 3, bytes(data[1:])
        rnd = random.Random(response[:16])
        f = self.fetcher
        f.feed(response, [rnd.choice((1, 7, 100, 1024, 4096)) for _ in range(8)])
        f.got = 0
        f.opens = 0
        sink = _Sink()
        limit = 5120
        try:
            if mode == 0:
                buf = bytearray(4096)
                n = f.fetch_into("https://h/metadata/timestamp.json", buf, 3000)
                if n > 3000:
                    raise PropertyError("fetch_into returned %d bytes, over its limit" % n)
                return "ok:%d" % n
            if mode == 1:
                f.download("https://h/targets/app.mpb", sink, limit)
                if len(sink.data) != limit or f.got != limit:
                    raise PropertyError("download ended with %d bytes, not %d" % (len(sink.data), limit))
                return "ok"
            got = f.get("https://h/targets/app.mpb", sink, limit, offset=4096, exact=True)
            if got > limit or (got - len(sink.data)) not in (0, 4096):
                raise PropertyError("range request reached %d with %d bytes delivered" % (got, len(sink.data)))
            return "ok:%d" % got
        except fetch.FetchError as e:
            if len(sink.data) > limit:
                raise PropertyError("%d bytes delivered past the limit" % len(sink.data))
            return "E:" + e.reason


class _Conn:
    """What BaseHTTPRequestHandler needs of a socket: a reader over the input, a writer."""

    def __init__(self, data):
        self.data = data
        self.out = bytearray()
        self.sock = self  # serve.py's handler takes a connection record holding the socket
        self.expired = False
        self.deadline = None

    def makefile(self, mode, bufsize=-1):
        return io.BytesIO(self.data)

    def sendall(self, b):
        self.out += b

    def settimeout(self, t):
        pass

    def close(self):
        pass


class ServeTarget(Target):
    """Requests to `mpboot serve`: no exception escapes the handler and never a byte from outside
    metadata/ and targets/. (A request the stdlib parser takes for HTTP/0.9, a bad version
    included, gets a bare body without a status line: http.server's behaviour, not checked.)"""
    name = "serve"
    SECRET = b"SECRET-SETTINGS-do-not-serve"

    def setup(self):
        from mpboot import serve

        self.serve = serve
        root = Path(tempfile.mkdtemp(prefix="mpboot-fuzz-serve-"))
        (root / "metadata").mkdir()
        (root / "targets" / "esp32").mkdir(parents=True)
        self.files = {"metadata/root.json": b'{"signed":{}}' * 10, "metadata/1.timestamp.json": b"{}",
                      "targets/esp32/app.mpb": bytes(range(256)) * 4}
        for rel, data in self.files.items():
            (root / rel).write_bytes(data)
        (root / "settings.json").write_bytes(self.SECRET)
        (root / "metadata" / ".hidden").write_bytes(self.SECRET)
        (root / "metadata" / "link.json").symlink_to(root / "settings.json")
        self.root = root
        reqs = [b"GET /metadata/root.json HTTP/1.1\r\nHost: h\r\n\r\n",
                b"GET /targets/esp32/app.mpb HTTP/1.1\r\nHost: h\r\nRange: bytes=100-\r\n\r\n",
                b"HEAD /metadata/1.timestamp.json HTTP/1.1\r\n\r\n",
                b"GET /targets/esp32/app.mpb HTTP/1.1\r\nRange: bytes=-10\r\nIf-Range: \"x\"\r\n\r\n"
                b"GET /metadata/root.json HTTP/1.1\r\nConnection: close\r\n\r\n",
                b"GET /metadata/../settings.json HTTP/1.1\r\n\r\n",
                b"GET /metadata/link.json HTTP/1.0\r\n\r\n"]
        self.seeds = reqs

    def check(self, data, info):
        class Server:
            root = self.root
            conn_timeout = None
            deadline = 3600.0
            log = staticmethod(lambda line: None)

        conn = _Conn(data)
        self.serve._Handler(conn, ("127.0.0.1", 1), Server())
        out = bytes(conn.out)
        if self.SECRET in out:
            raise PropertyError("served a file outside metadata/ and targets/")
        return "ok:%d" % out.count(b"HTTP/1.1 ")


TARGETS = [OtadataTarget, PartitionTableTarget, FetchTarget, ServeTarget]
