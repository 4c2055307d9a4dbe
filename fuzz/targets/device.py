"""Device-parser targets (firmware/mpboot_fw): the checks live in fuzz/devtargets.py, which both
runtimes run; here are the seeds (built with the project's own builders and keys), the re-signing
and re-sealing that carry mutations past the first check, and the CPython-side properties."""

import hashlib
import json
import struct
import tempfile
from binascii import unhexlify
from pathlib import Path

import appbuilder
import devtargets
import make_device_data as mdd
from mpboot import keys, signing
from mpboot_fw import cjson, image, statelog, staterec as R
from nor_ram import NorRam
from targets import ROOT, Target, dump, mutate_tree

DATA = ROOT / "tests" / "device" / "data"
NOW = 1767225600  # 2026-01-01T00:00:00Z: inside every seed's validity
_KEYS = {n: mdd.fixed_key(n) for n in ("R1", "R2", "R3", "T1", "T2")}


def keyid(name):
    return keys.tuf_key(_KEYS[name].public_key()).keyid


def sign_doc(signed, signers, rng=None, raw_signed=None):
    """A metadata document over `signed`, signed by the named fixed keys."""
    message = cjson.encode(signed)
    sigs = [{"keyid": keyid(n), "sig": _KEYS[n].sign(message).hex()} for n in signers]
    if raw_signed is not None:  # keep the mutated bytes of `signed` as they were
        return b'{"signatures":' + json.dumps(sigs).encode() + b',"signed":' + raw_signed + b"}"
    doc = {"signatures": sigs, "signed": signed}
    return dump(rng, doc) if rng is not None else json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()


# The loader's functions: firmware/boot.py without its last lines, which boot.
LOADER_DEFS = (ROOT / "firmware" / "boot.py").read_text().split("\nmpboot_app = _boot()\n")[0]
assert "def _intact" in LOADER_DEFS and "mpboot_app = _boot()" not in LOADER_DEFS
# The files of copy "a" whose kept manifest the `kept` target mutates.
KEPT_FILES = {"main.py": b"print(1)\n", "lib/util.py": b"X = 1\n", "data/blob.bin": bytes(range(256)) * 20,
              "empty.txt": b""}

_CTX = {}


def context():
    """What the device targets need besides the input: roots, the trusted TUF chain, a path."""
    if not _CTX:
        from mpboot_fw import trust

        _CTX["root"] = trust.load_root((DATA / "root_single.json").read_bytes())
        _CTX["nor"] = NorRam
        _CTX["path"] = str(Path(tempfile.mkdtemp(prefix="mpboot-fuzz-")) / "input.json")
        _CTX.update(tuf_chain())
        loader_dir = Path(tempfile.mkdtemp(prefix="mpboot-fuzz-loader-"))
        for path, data in KEPT_FILES.items():
            (loader_dir / "a" / path).parent.mkdir(parents=True, exist_ok=True)
            (loader_dir / "a" / path).write_bytes(data)
        _CTX["loader"] = devtargets.loader(LOADER_DEFS, str(loader_dir) + "/")
    return _CTX


def tuf_chain():
    """root.json of the device tests and a timestamp/snapshot/targets chain under its keys. The
    trusted timestamp and snapshot list the next file by version only, so a mutated (re-signed)
    snapshot or targets reaches every check after the signature."""
    tgt = json.loads((DATA / "tuf" / "1.targets.json").read_bytes())["signed"]
    targets_doc = sign_doc(tgt, ("T1", "T2"))
    snap = {"_type": "snapshot", "expires": "2026-07-01T00:00:00Z", "spec_version": "1.0.31", "version": 1,
            "meta": {"targets.json": {"version": tgt["version"]}}}
    snap_hashed = dict(snap, meta={"targets.json": {"version": tgt["version"], "length": len(targets_doc),
                                                    "hashes": {"sha256": hashlib.sha256(targets_doc).hexdigest()}}})
    snapshot_doc = sign_doc(snap, ("T1",))
    ts = {"_type": "timestamp", "expires": "2026-07-01T00:00:00Z", "spec_version": "1.0.31", "version": 1,
          "meta": {"snapshot.json": {"version": 1}}}
    ts_hashed = dict(ts, meta={"snapshot.json": {"version": 1, "length": len(snapshot_doc),
                                                 "hashes": {"sha256": hashlib.sha256(snapshot_doc).hexdigest()}}})
    return {"tuf_root": (DATA / "root.json").read_bytes(), "now": NOW, "tuf_timestamp": sign_doc(ts, ("T1",)),
            "tuf_snapshot": snapshot_doc, "tuf_targets": targets_doc,
            "seeds_timestamp": [sign_doc(ts, ("T1",)), sign_doc(ts_hashed, ("T1",)),
                                sign_doc(dict(ts, version=7), ("T1",))],
            "seeds_snapshot": [snapshot_doc, sign_doc(snap_hashed, ("T1",))],
            "seeds_targets": [targets_doc, sign_doc(_with_releases(tgt["version"]), ("T1", "T2"))]
                             + [sign_doc(dict(tgt, delegations=d), ("T1", "T2")) for d in _delegation_seeds()]}


def _with_releases(version):
    """3.targets.json's images, and a bundle beside them, as the version the snapshot names, so
    that they are accepted and a device's pick (find_image, find_bundle) runs over them."""
    signed = json.loads((DATA / "tuf" / "3.targets.json").read_bytes())["signed"]
    entry = next(iter(signed["targets"].values()))
    signed["targets"]["esp32-4mb/stable/app-1.1.0.mpbundle"] = dict(
        entry, custom={"bundle": "app", "channel": "stable", "board": "", "chip_id": None, "mpy": None,
                       "min_firmware": "1.0.0", "security_version": 1, "version": "1.1.0"})
    return dict(signed, version=version)


def _delegation_seeds():
    """`delegations` objects of each kind (paths, path_hash_prefixes, succinct bins), keyed by a
    key of root.json, so that mutations reach delegations.parse and the path matcher."""
    keys = json.loads((DATA / "root.json").read_bytes())["signed"]["keys"]
    keyid = sorted(keys)[0]
    role = {"keyids": [keyid], "threshold": 1, "terminating": False}
    return [
        {"keys": {keyid: keys[keyid]}, "roles": [
            dict(role, name="esp32-4mb", paths=["esp32-4mb/*/*"]),
            dict(role, name="beta", paths=["*/beta/[0-9]*.mpb", "esp32?/stable/*"], terminating=True)]},
        {"keys": {keyid: keys[keyid]}, "roles": [dict(role, name="bins-0", path_hash_prefixes=["0", "1a"])]},
        {"keys": {keyid: keys[keyid]},
         "succinct_roles": {"keyids": [keyid], "threshold": 1, "bit_length": 4, "name_prefix": "bins"}},
    ]


class DeviceTarget(Target):
    """A target whose check is devtargets.TARGETS[name]; subclasses add seeds and properties."""

    def setup(self):
        self.ctx = context()
        self.fn = devtargets.TARGETS[self.name]

    def check(self, data, info):
        summary, value = self.fn(data, self.ctx)
        self.property(data, info, summary, value)
        return summary

    def property(self, data, info, summary, value):
        pass


class JsonDocTarget(DeviceTarget):
    """TUF metadata: re-signing parses the mutated document and signs its `signed` part again."""
    fix_rate = 0.5
    tree_rate = 0.3
    signers = ()

    def setup(self):
        super().setup()
        self.seed_summaries = {self.fn(s, self.ctx)[0] for s in self.seeds}

    def fix(self, rng, data):
        try:
            doc = json.loads(data)
            signed = doc["signed"]
            if rng.random() < 0.5:
                signed = mutate_tree(rng, {"s": signed})["s"]
                return sign_doc(signed, self.signers, rng)
            start = data.index(b'"signed":') + 9
            raw = data[start:data.rindex(b"}")].strip()
            if json.loads(raw) != doc["signed"]:
                return data
            return sign_doc(signed, self.signers, raw_signed=raw)
        except (ValueError, KeyError, TypeError, RecursionError, UnicodeError, AttributeError):
            return data

    def property(self, data, info, summary, value):
        # Nothing signed changes meaning without re-signing: a document accepted without being
        # signed again says exactly what one of the seeds says.
        if summary.startswith("ok:") and not info["fixed"] and summary not in self.seed_summaries:
            raise devtargets.PropertyError("accepted changed metadata without a new signature: " + summary)


class RootTarget(JsonDocTarget):
    name = "root"
    signers = ("R1", "R2")

    def setup(self):
        self.seeds = [(DATA / n).read_bytes() for n in ("root.json", "root_v2.json", "root_other_keytype.json")]
        super().setup()


class RootUpdateTarget(JsonDocTarget):
    """root_v2.json after root.json: signed by R1 and R2 (root.json's root keys) and R3."""
    name = "rootupdate"
    signers = ("R1", "R2", "R3")

    def setup(self):
        self.seeds = [(DATA / "root_v2.json").read_bytes()]
        super().setup()


class TimestampTarget(JsonDocTarget):
    name = "timestamp"
    signers = ("T1",)

    def setup(self):
        self.seeds = context()["seeds_timestamp"]
        super().setup()


class SnapshotTarget(TimestampTarget):
    name = "snapshot"

    def setup(self):
        self.seeds = context()["seeds_snapshot"]
        JsonDocTarget.setup(self)


class TargetsTarget(JsonDocTarget):
    name = "targets"
    signers = ("T1", "T2")

    def setup(self):
        self.seeds = context()["seeds_targets"]
        super().setup()


class CjsonTarget(DeviceTarget):
    name = "cjson"
    tree_rate = 0.4

    def setup(self):
        super().setup()
        docs = [json.loads((DATA / "root.json").read_bytes()), {"a": [1, -2, 10 ** 30, True, False, None]},
                {"\u00e9": "\U0001f600", "a\"b\\": "\u0000\u001f", "": {}}, [[[]]], "x", 0,
                {"z": 1, "a": {"y": [], "b": "\u2028"}}]
        self.seeds = [cjson.encode(d) for d in docs] + [b'"\\ud83d\\ude00"', b'{"b":1,"a":2,"a":3}']

    def property(self, data, info, summary, value):
        from securesystemslib.formats import encode_canonical

        if summary.startswith("ok:"):
            obj = json.loads(data)
            if json.loads(value, strict=False) != obj:
                raise devtargets.PropertyError("encode/parse does not round-trip")
            want = encode_canonical(obj).encode("utf-8")
            if want != value:
                raise devtargets.PropertyError("differs from securesystemslib: %r != %r" % (value[:80], want[:80]))


class ImageTarget(DeviceTarget):
    name = "image"
    fix_rate = 0.5

    def setup(self):
        super().setup()
        t1 = _KEYS["T1"]
        apps = [appbuilder.build(version="app-1.0", secure_version=3, data_segments=(100, 300)),
                appbuilder.build(version="x", data_segments=(40,), hash_appended=False)]
        self.seeds = [signing.sign_app(a, [t1], "1.2.3", 5, 0, b, created=mdd.CREATED)
                      for a, b in zip(apps, ("esp32-4mb", ""))]
        self.focus = []
        self.signed = {}
        for s in self.seeds:
            m = image.read_manifest(_bytesdev(s), len(s))
            self.focus.append((m.offset - 64, m.length))
            self.signed[m.signed] = s[:m.payload_len]
            self.focus.append(None)
        self.focus = self.focus[::2]

    def fix(self, rng, data):
        """Re-sign the manifest that the mutated input has (payload hash made right half the time)."""
        try:
            m = image.read_manifest(_bytesdev(data), len(data))
        except (image.ImageError, OSError, ValueError):
            return data
        out = bytearray(data)
        signed = bytearray(m.signed)
        if rng.random() < 0.5 and m.app.image_length <= len(data):
            struct.pack_into("<I", signed, 16, m.app.image_length)
            signed[28:60] = hashlib.sha256(data[:m.app.image_length]).digest()
        at = m.offset + image.SIGNED_SIZE + image.COUNT_SIZE
        out[m.offset:m.offset + image.SIGNED_SIZE] = signed
        out[at:at + 32] = unhexlify(keyid("T1"))
        out[at + 32:at + 96] = _KEYS["T1"].sign(bytes(signed))
        return bytes(out)

    def property(self, data, info, summary, m):
        if m is not None and not info["fixed"]:
            payload = self.signed.get(m.signed)
            if payload is None or data[:m.payload_len] != payload:
                raise devtargets.PropertyError("verified an image whose signed part or payload changed unsigned")


def _bytesdev(data):
    from mpboot_fw.blockdev import BytesDevice

    return BytesDevice(data)


class AppImageTarget(DeviceTarget):
    name = "appimage"
    fix_rate = 0.6

    def setup(self):
        super().setup()
        self.seeds = [appbuilder.build(data_segments=(100, 300)), appbuilder.build(chip_id=5, data_segments=(64,)),
                      appbuilder.build(hash_appended=False, data_segments=(16, 4, 4000)),
                      appbuilder.build(chip_id=9, data_segments=())]
        self.focus = [(0, 400)] * len(self.seeds)

    def fix(self, rng, data):
        """Recompute the checksum byte and the appended SHA-256 where the mutated headers put them."""
        if len(data) < 24:
            return data
        out = bytearray(data)
        pos, checksum = 24, 0xEF
        for _ in range(out[1]):
            if pos + 8 > len(out):
                return data
            n = struct.unpack_from("<I", out, pos + 4)[0]
            seg = out[pos + 8:pos + 8 + n]
            for b in seg:
                checksum ^= b
            pos += 8 + n
        end = (pos + 16) & ~15
        if end > len(out):
            return data
        out[end - 1] = checksum
        if out[23] == 1:
            if end + 32 > len(out):
                return data
            out[end:end + 32] = hashlib.sha256(out[:end]).digest()
        return bytes(out)


class StateLogTarget(DeviceTarget):
    name = "statelog"

    def setup(self):
        super().setup()
        root = (DATA / "root_single.json").read_bytes()
        seeds = []
        for blocks, steps in ((3, 0), (3, 1), (3, 40), (4, 2)):
            dev = NorRam(blocks)
            st = statelog.format_partition(dev, root, floor=2, time_floor=1000)
            for i in range(steps):
                st.raise_floor(3 + i)
                st.raise_time(2000 + i)
                st.next_boot()
                st.set_pending("ota_%d" % (i % 2), "1.%d" % i, 3 + i, bytes(range(32)))
                st.log_event("boot", "reason %d" % i, "detail")
                st.set_blob("timestamp", b'{"x":%d}' % i, i)
                if i % 3 == 2:
                    st.clear_pending()
            seeds.append(bytes(dev.mem))
        self.seeds = seeds
        self.floors = []
        for s in seeds:
            st = statelog.load(_nor(s))
            self.floors.append((st.floor, st.time_floor, st.boot_count))

    def generate(self, rng):
        """Raw bytes (any mutation), raw then re-sealed (every record head gets a valid CRC), or
        crafted valid-CRC records programmed into erased flash with nothing else touched."""
        i = rng.randrange(len(self.seeds))
        seed = self.seeds[i]
        r = rng.random()
        if r < 0.35:
            return _append_records(rng, seed), {"seed": i, "fixed": True, "append_only": True}
        data, info = Target.generate(self, rng)
        info["seed"] = i
        if r < 0.7:
            data = _reseal(data)
            info["fixed"] = True
        return data, info

    def property(self, data, info, summary, value):
        # No floor read lower than one committed before: records added to erased flash, CRCs
        # valid, cannot lower the floor, the time floor or the boot counter.
        if info.get("append_only"):
            if value is None:
                raise devtargets.PropertyError("committed state unreadable after adding records: " + summary)
            if any(a < b for a, b in zip(value, self.floors[info["seed"]])):
                raise devtargets.PropertyError("monotonic value lower after adding records: %r < %r"
                                               % (value, self.floors[info["seed"]]))


def _nor(data):
    dev = NorRam(len(data) // 4096)
    dev.mem[:] = data
    return dev


def _reseal(data):
    """Give every record-looking head in `data` a valid CRC for the bytes after it."""
    out = bytearray(data)
    for off in range(0, len(out) - R.HEAD + 1, 16):
        if out[off] == R.MAGIC0 and out[off + 1] == R.MAGIC1:
            n = out[off + 4] | out[off + 5] << 8
            end = (off // 4096 + 1) * 4096
            if off + R.size(n) <= end:
                head = bytearray(out[off:off + R.HEAD])
                typ, flags, seq = head[2], head[3], struct.unpack_from("<I", head, 8)[0]
                R.seal(head, typ, flags, n, seq, memoryview(out)[off + R.HEAD:off + R.HEAD + n])
                head[6:8] = out[off + 6:off + 8]
                if head[6] or head[7]:
                    continue
                out[off:off + R.HEAD] = head
    return bytes(out)


def _payload(rng, typ):
    buf = bytearray(256)
    if typ == R.T_FLOOR or typ == R.T_BOOT:
        struct.pack_into("<I", buf, 0, rng.choice((0, 1, 2, 0xFFFFFFFF, rng.randrange(1 << 32))))
        n = 4
    elif typ == R.T_TIME:
        struct.pack_into("<Q", buf, 0, rng.choice((0, 1, (1 << 64) - 1, (1 << 63), rng.randrange(1 << 64))))
        n = 8
    elif typ == R.T_PENDING:
        n = R.put_pending(buf, "ota_1", "9.9", rng.randrange(1 << 32), bytes(32), 1) if rng.random() < 0.7 else 0
    elif typ == R.T_EVENT:
        n = R.put_event(buf, 1, "boot", "r", "d")
    elif typ == R.T_BLOB:
        n = R.put_blob(buf, rng.choice(("root", "timestamp", "x")), rng.randrange(9), rng.randrange(300),
                       rng.randrange(4), rng.randrange(3))
    elif typ == R.T_BEGIN:
        struct.pack_into("<BI", buf, 0, rng.choice((1, 1, 2)), rng.randrange(5))
        n = 5
    else:
        n = rng.randrange(0, 64)
        for k in range(n):
            buf[k] = rng.randrange(256)
    if rng.random() < 0.3:  # bytes no writer would put there: bad UTF-8, lengths past the end
        for _ in range(rng.randrange(1, 4)):
            if n:
                buf[rng.randrange(n)] = rng.choice((0xFF, 0xC3, 0x80, 0xED, 0, 200))
        n = rng.choice((n, max(0, n - 1), n + 1))
    return buf, n


def _append_records(rng, seed):
    out = bytearray(seed)
    seqs = [struct.unpack_from("<I", out, off + 8)[0] for off in range(0, len(out), 16)
            if out[off] == R.MAGIC0 and out[off + 1] == R.MAGIC1]
    top = max(seqs) if seqs else 0
    for _ in range(rng.randrange(1, 4)):
        typ = rng.choice((R.T_FLOOR, R.T_TIME, R.T_BOOT, R.T_PENDING, R.T_EVENT, R.T_BLOB, R.T_CHUNK, R.T_BEGIN,
                          R.T_END, rng.randrange(256)))
        payload, n = _payload(rng, typ)
        size = R.size(n)
        erased = [off for off in range(0, len(out) - size + 1, 16)
                  if off // 4096 == (off + size - 1) // 4096 and out[off:off + size] == b"\xff" * size]
        if not erased:
            break
        # Mostly right after what is there (where a writer appends), else anywhere erased.
        off = erased[0] if rng.random() < 0.5 else rng.choice(erased)
        head = bytearray(R.HEAD)
        seq = rng.choice((top + 1, top + 1, top + 2, top, max(0, top - 1), 0, 0xFFFFFFFF, rng.randrange(1 << 32))) & 0xFFFFFFFF
        R.seal(head, typ, rng.choice((0, 0, R.F_SNAP)), n, seq, payload)
        out[off:off + R.HEAD] = head
        out[off + R.HEAD:off + R.HEAD + n] = payload[:n]
        top = max(top, seq)
    return bytes(out)


class ConfigTarget(DeviceTarget):
    name = "config"
    tree_rate = 0.4

    def setup(self):
        super().setup()
        self.seeds = [b"{}", json.dumps({"board": "esp32-4mb", "chip_id": 0, "channel": "beta",
                                         "policy": "trial-only", "health": "app.health:check",
                                         "health_ms": 2500, "state": "mpboot"}).encode(),
                      b'{"policy": "every-boot", "health_ms": 1000}']


class PointerTarget(DeviceTarget):
    name = "pointer"

    def setup(self):
        super().setup()
        self.seeds = self.SEEDS

    SEEDS = [b"a", b"b", b"-", b"a b", b"- a", b"b a try", b"a b failed import-error", b"- b failed not-confirmed"]


class OtaConfigTarget(DeviceTarget):
    name = "otaconfig"
    tree_rate = 0.4

    def setup(self):
        super().setup()
        self.seeds = [json.dumps({"url": "https://updates.example/repo/", "ca": "/ca.der"}).encode(),
                      json.dumps({"url": "https://h:8443/r", "ca": "/ca.der", "cert": "/c.pem", "key": "/k.pem",
                                  "token": "abc", "stale_after": 10, "timeout_ms": 100,
                                  "min_rate": 1}).encode()]


class P256Target(DeviceTarget):
    """The DER signature, r || s and PEM public key parsers (mpboot_fw.p256), with cryptography
    as the oracle: what the device decodes re-encodes to the same bytes, and its verdict on a
    DER signature and on a PEM key is OpenSSL's, or stricter only where docs/p256.md says."""
    name = "p256"

    def setup(self):
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

        super().setup()
        secret = int.from_bytes(hashlib.sha256(b"mpboot fuzz p256").digest(), "big")
        key = ec.derive_private_key(secret, ec.SECP256R1())
        self.public = key.public_key()
        assert self.public.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
                                        ) == devtargets.P256_KEY
        deterministic = ec.ECDSA(hashes.SHA256(), deterministic_signing=True)
        self.seeds = [self.public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)]
        for i in range(4):  # signatures of different lengths (r or s with its top bit set or not)
            sig = key.sign(devtargets.P256_MESSAGE if i == 0 else devtargets.P256_MESSAGE + bytes([i]), deterministic)
            r, s = decode_dss_signature(sig)
            self.seeds += [sig, r.to_bytes(32, "big") + s.to_bytes(32, "big")]

    def property(self, data, info, summary, value):
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

        der, raw, key, ok = value
        if der is not None and encode_dss_signature(*der) != data:
            raise devtargets.PropertyError("decoded DER that is not the minimal encoding of its (r, s)")
        if raw is not None and raw[0].to_bytes(32, "big") + raw[1].to_bytes(32, "big") != data:
            raise devtargets.PropertyError("r || s decoded to other numbers")
        try:
            self.public.verify(data, devtargets.P256_MESSAGE, ec.ECDSA(hashes.SHA256()))
            openssl = True
        except (InvalidSignature, ValueError):
            openssl = False
        if ok is not openssl:
            raise devtargets.PropertyError("verdict %s, OpenSSL's %s" % (ok, openssl))
        if key is not None:
            loaded = serialization.load_pem_public_key(data)
            if loaded.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint) != key:
                raise devtargets.PropertyError("read a PEM key as another point than OpenSSL")


# Paths at the edges of the rules: escaping, reserved, aliasing on FAT, odd characters.
BUNDLE_PATHS = ("../boot.py", "/main.py", "a//b", "a/", ".", "x.", "BOOT.PY", "boot.mpy", "mpboot.json",
                "mpboot-ota.json", "mpboot_fw/x.py", "mpboot_fw.mpy", "MAIN.PY", "main.mpy", "lib", "lib/x/y.py",
                "a\\b", "a\u0000b", "caf\u00e9", "\ud800", "a" * 128, "a" * 129, "/".join("abcdefghi"),
                "a/b/c/d/e/f/g/h", "A.txt", "a.txt", "data/blob.bin", "empty.txt", "", "C:x", "a b")


class BundleTarget(DeviceTarget):
    """Bundles signed by T1 (the fuzz root's one targets key). Re-signing parses the mutated
    manifest, mutates its tree half the time, and half the time also makes every file's size
    and hash those of the bytes after the manifest, so mutations reach the path rules, the caps
    and the streaming of the files."""
    name = "bundle"
    fix_rate = 0.6

    def setup(self):
        super().setup()
        from mpboot import bundle as host_bundle

        self.host = host_bundle
        apps = [
            ({"main.py": b"print(1)\n", "lib/util.py": b"X = 1\n", "data/blob.bin": bytes(range(256)) * 20,
              "empty.txt": b""}, dict(board="esp32-4mb", chip_id=0, entry="main")),
            ({"main.mpy": b"M\x06\x00\x1fbytecode", "a/b/c.py": b"", "A.txt": b"case"},
             dict(mpy=6, min_firmware="1.2.0", entry="main:run")),
            ({"mpboot_fw/__init__.py": b"", "mpboot_fw/stage.py": b"x" * 5000}, dict(name="mpboot", chip_id=0)),
        ]
        self.seeds = [self._pack(files, **fields) for files, fields in apps]
        self.focus = [(0, 16 + int.from_bytes(seed[8:12], "little")) for seed in self.seeds]
        self.seed_summaries = {self.fn(seed, self.ctx)[0] for seed in self.seeds}

    def _pack(self, files, **fields):
        f = dict(name="app", version="1.0.0", security_version=1, board=None, chip_id=None, mpy=None,
                 min_firmware=None, entry=None)
        f.update(fields)
        return self.host.pack(self.host.manifest(files=files, **f), [_KEYS["T1"]], files)

    def fix(self, rng, data):
        try:
            length = struct.unpack_from("<I", data, 8)[0]
            signed = json.loads(data[16:16 + length])["signed"]
            if rng.random() < 0.5:
                signed = mutate_tree(rng, {"s": signed})["s"]
            files = signed.get("files")
            if rng.random() < 0.3 and isinstance(files, list) and files and isinstance(files[0], dict):
                rng.choice(files)["path"] = rng.choice(BUNDLE_PATHS)
            rest = data[16 + length:]
            if rng.random() < 0.5 and isinstance(signed.get("files"), list):
                at = 0
                for entry in signed["files"]:
                    if isinstance(entry, dict) and isinstance(entry.get("size"), int):
                        piece = rest[at:at + max(0, entry["size"])]
                        entry["size"], entry["sha256"] = len(piece), hashlib.sha256(piece).hexdigest()
                        at += len(piece)
            doc = self.host.pack(signed, [_KEYS["T1"]], {})
            return data[:8] + struct.pack("<I", len(doc) - 16) + data[12:16] + doc[16:] + rest
        except (ValueError, KeyError, TypeError, RecursionError, UnicodeError, AttributeError, struct.error):
            return data

    def property(self, data, info, summary, value):
        # Nothing signed changes meaning without re-signing: a bundle accepted without being
        # signed again is one of the seeds, byte for byte in what it installs.
        if summary.startswith("ok:") and not info["fixed"] and summary not in self.seed_summaries:
            raise devtargets.PropertyError("accepted a changed bundle without a new signature: " + summary)


class LoaderTarget(DeviceTarget):
    name = "loader"

    def setup(self):
        super().setup()
        self.seeds = PointerTarget.SEEDS + [b"a a", b"a b try x", b"- b failed", b"a b failed " + b"y" * 53,
                                            b"b a failed " + b"z" * 32]


class KeptTarget(DeviceTarget):
    """Kept manifests (signed by T1, not that anything checks it here) of bundles with copy
    a's files, and of bundles with fewer, more or other files than the copy holds."""
    name = "kept"
    tree_rate = 0.4

    def setup(self):
        super().setup()
        from mpboot import bundle as host_bundle

        fields = dict(name="app", version="1.0.0", security_version=1, board=None, chip_id=None, mpy=None,
                      min_firmware=None, entry=None)
        variants = [(KEPT_FILES, {}), (KEPT_FILES, dict(board="esp32-4mb", chip_id=0, entry="main", mpy=6,
                                                        min_firmware="1.2.0", version="2.0.0-rc.1")),
                    ({"main.py": KEPT_FILES["main.py"]}, {}), (dict(KEPT_FILES, extra=b"x"), {}),
                    ({"main.py": b"print(2)\n"}, {})]
        self.seeds = []
        for files, extra in variants:
            packed = host_bundle.pack(host_bundle.manifest(files=files, **dict(fields, **extra)), [_KEYS["T1"]], files)
            self.seeds.append(packed[16:16 + struct.unpack_from("<I", packed, 8)[0]])


class TufstoreTarget(DeviceTarget):
    """"tuf" blobs as tufstore writes them (formats 2 and 3, documents missing), and format 1."""
    name = "tufstore"

    def setup(self):
        from mpboot_fw import tufstore

        super().setup()
        ctx = self.ctx
        docs = [(1, ctx["tuf_timestamp"], NOW + 100), (1, ctx["tuf_snapshot"], NOW + 200),
                (1, ctx["tuf_targets"], NOW + 300)]
        delegated = [("esp32-4mb", 2, b'{"signed":{}}', NOW + 50), ("bins-0", 7, b"", NOW + 400),
                     ("caf\u00e9", 1, b"x" * 40, NOW)]
        self.seeds = [_tufstore_blob(docs, []), _tufstore_blob(docs, delegated),
                      _tufstore_blob([None, docs[1], None], delegated[:1]), _tufstore_blob([None] * 3, [])]
        self.seeds.append(struct.pack(tufstore._FORMAT1, b"TF", 1, NOW, 1, 3, 1, 4, 0, 0) + b"abcdefg")
        self.focus = [(0, tufstore.HEAD)] * len(self.seeds)


class _StoreTrusted:
    class root:
        expires_at = NOW + 1000


class _StoreState:
    def set_blob(self, name, data):
        self.data = bytes(data)


def _tufstore_blob(docs, delegated):
    """The blob tufstore's own writer makes of `docs` and `delegated`."""
    from mpboot_fw import tufstore

    store = tufstore.Store.__new__(tufstore.Store)
    store.state, store.trusted = _StoreState(), _StoreTrusted()
    store._write(docs, delegated)
    return store.state.data


class VersionTarget(DeviceTarget):
    name = "version"

    def setup(self):
        super().setup()
        self.seeds = [v.encode() for v in devtargets.VERSIONS] + [
            b"1.2.3-rc.1+build.7", b"1.0.0\n1.0.0-rc.1", b"1.0.0-rc.1\n1.0.0-rc.1.0", b"1.0\n1.0.0.0+x",
            b"0.0.0-0\n0.0.0-a", b"1.2.3-x-y.01a\n1.2.3-x-y.1a"]


TARGETS = [ImageTarget, AppImageTarget, CjsonTarget, RootTarget, RootUpdateTarget, TimestampTarget, SnapshotTarget,
           TargetsTarget, StateLogTarget, ConfigTarget, OtaConfigTarget, P256Target, BundleTarget,
           PointerTarget, LoaderTarget, KeptTarget, TufstoreTarget, VersionTarget]
