"""The device parsers under fuzz, in the common subset: CPython and MicroPython run this file.

Each target takes the input bytes and a context (the trusted root, a file path) and returns a
one-line summary of what the device decided ("ok:..." with what it read, or "E:<class>:<message>"
for the target's declared error). Anything else escaping is a finding; so is a broken property
(PropertyError). The two runtimes must return the same summary for the same input.
"""

import hashlib
import io
import json
import struct
from binascii import hexlify, unhexlify

from mpboot_fw import appimage, bundle, bundlefetch, bundlestore, cjson, config, image, otaconfig, p256, statelog
from mpboot_fw import trust, tuf, tufclient, tufstore, version
from mpboot_fw import delegations as delegations_mod
from mpboot_fw.blockdev import BytesDevice

BLOCK = 4096
U32 = 0xFFFFFFFF


class PropertyError(AssertionError):
    pass


def check(cond, what):
    if not cond:
        raise PropertyError(what)


def _sha(data):
    return hexlify(hashlib.sha256(data).digest()).decode()


def _declared(e):
    return "E:%s:%s" % (type(e).__name__, e)


def t_image(data, ctx):
    try:
        m = image.verify_slot(BytesDevice(data), ctx["root"], chip_id=0, board="esp32-4mb")
    except image.ImageError as e:
        return _declared(e), None
    check(m.length <= len(data) and m.payload_len == m.app.image_length, "manifest outside the input")
    return "ok:%d:%s:%s:%s" % (m.security_version, m.board, m.version, _sha(m.signed)), m


def t_appimage(data, ctx):
    try:
        img = appimage.validate(BytesDevice(data), len(data))
    except appimage.AppImageError as e:
        return _declared(e), None
    check(img.image_length <= len(data), "image longer than its input")
    return "ok:%d:%d:%d" % (img.image_length, img.chip_id, img.hash_appended), img


def _loads_raw(text):
    """Parse canonical JSON, which keeps control characters raw in strings (as securesystemslib)."""
    try:
        return json.loads(text, strict=False)
    except TypeError:  # MicroPython's json takes no keyword arguments and is not strict anyway
        return json.loads(text)


def t_cjson(data, ctx):
    # The device parses JSON as trust.load_envelope does: the strict syntax and depth check
    # first (MicroPython's json.loads alone takes text CPython refuses), then json.loads, which
    # must then accept the text on both runtimes.
    try:
        cjson.check_syntax(data, trust.MAX_DEPTH)
    except ValueError as e:
        return _declared(e), None
    obj = json.loads(data)
    try:
        enc = cjson.encode(obj)
    except ValueError as e:
        return _declared(e), None
    # Parse then encode is a fixed point. (Equality of the parsed objects is checked on CPython
    # only: MicroPython parses an escaped surrogate pair into two surrogates, see cjson.) Not for
    # an encoding holding a raw NUL, which canonical JSON keeps raw and MicroPython's parser
    # cannot read; the device never parses canonical JSON, it only encodes and compares it.
    if b"\x00" not in enc:
        check(cjson.encode(_loads_raw(enc)) == enc, "encode/parse does not round-trip")
    check(cjson.encoded_at(obj, enc) == len(enc), "encoded_at disagrees with encode")
    check(cjson.encoded_at(obj, enc + b" ") == len(enc), "encoded_at reads past its encoding")
    return "ok:" + _sha(enc), enc


def _root_summary(r):
    keys = ",".join(k + "=" + hexlify(r.keys[k]).decode() for k in sorted(r.keys))
    roles = ",".join("%s=%d/%s" % (n, r.roles[n][1], "+".join(sorted(r.roles[n][0]))) for n in sorted(r.roles))
    return "%d:%s:%s:%s:%s:%s" % (r.version, r.expires, keys, roles, r.consistent_snapshot, r.spec_version)


def t_root(data, ctx):
    try:
        r = trust.load_root(data)
    except trust.TrustError as e:
        return _declared(e), None
    return "ok:" + _root_summary(r), r


def t_rootupdate(data, ctx):
    """A root rotation from the repository (tuf.TrustedSet.update_root): version N+1, signed by
    a threshold of the trusted root's root keys and of its own."""
    ts = tuf.TrustedSet(ctx["tuf_root"], ctx["now"])
    try:
        r = ts.update_root(data)
    except tuf.RepositoryError as e:
        return _declared(e), None
    check(ts.root is r and r.version == 2, "trusted another root than the one accepted, or not version 2")
    return "ok:" + _root_summary(r), r


def _trusted_set(ctx, upto, scope=None):
    ts = tuf.TrustedSet(ctx["tuf_root"], ctx["now"], scope=scope)
    if upto > 0:
        ts.update_timestamp(ctx["tuf_timestamp"])
    if upto > 1:
        ts.update_snapshot(ctx["tuf_snapshot"])
    return ts


def _signed_summary(signed):
    return "ok:%s:%s" % (signed.get("version"), _sha(cjson.encode(signed)))


def t_timestamp(data, ctx):
    ts = _trusted_set(ctx, 0)
    try:
        ts.update_timestamp(data)
    except tuf.RepositoryError as e:
        return _declared(e), None
    return _signed_summary(ts.timestamp), ts.timestamp


def t_snapshot(data, ctx):
    ts = _trusted_set(ctx, 1)
    try:
        ts.update_snapshot(data)
    except tuf.RepositoryError as e:
        return _declared(e), None
    return _signed_summary(ts.snapshot), ts.snapshot


# Paths the delegations of an accepted targets document are matched against (t_targets).
DELEGATED_PATHS = ("esp32-4mb/stable/1.0.0.mpb", "esp32/beta/2.mpb", "a", "", "x/y/z/w", "[/]*?")


# The directories of a device's scoped set (the updater's): its targets are parsed a member at a
# time and cut while parsed (trust.load_envelope's `select`), which must answer as the whole parse.
SCOPE = ("esp32-4mb/stable/",)


def t_targets(data, ctx):
    ts = _trusted_set(ctx, 2)
    try:
        ts.update_targets(data)
    except tuf.RepositoryError as e:
        _scoped_agrees(data, ctx, type(e).__name__, None)
        return _declared(e), None
    _scoped_agrees(data, ctx, None, ts.targets)
    for path in sorted(ts.targets.get("targets", {})):
        try:
            tuf.target_check(ts.targets["targets"][path])
        except tuf.RepositoryError:
            pass
    delegations = ts.delegations.get("targets")
    if delegations is not None:
        # The matcher over what was accepted: neither may raise on any pattern or name.
        for path in DELEGATED_PATHS:
            delegations.roles_for(path)
        delegations.roles_for_directory("esp32-4mb/stable/")
    return "%s:%s" % (_signed_summary(ts.targets), _chosen(ts.targets)), ts.targets


def _chosen(targets):
    """What a device (chip 0, esp32-4mb, floor 1) would pick from accepted targets: an image
    and a bundle per channel, and a newer image than 1.0.0; each pick must meet the rules."""
    out = []
    for channel in ("stable", "beta"):
        for current in (None, "1.0.0"):
            hit = tufclient.find_image(targets, 0, "esp32-4mb", channel, 1, current)
            out.append(_picked(hit, channel, current))
        hit = tufclient.find_bundle(targets, "app", channel, "esp32-4mb", 0, 1)
        out.append(_picked(hit, channel, None))
    return ",".join(out)


def _picked(hit, channel, current):
    if hit is None:
        return "-"
    custom = hit[1]["custom"]
    check(custom["channel"] == channel and custom.get("board") in ("esp32-4mb", "")
          and tuf.is_count(custom["security_version"]) and custom["security_version"] >= 1
          and (current is None or version.compare(custom["version"], current) > 0),
          "picked a target the rules refuse")
    return hit[0]


def _scoped_agrees(data, ctx, refused, whole):
    """A scoped set refuses what the whole set refuses (the same check fails), and of what it
    accepts keeps exactly the entries directly in SCOPE, their custom cut to tuf.DEVICE_CUSTOM."""
    scoped = _trusted_set(ctx, 2, scope=SCOPE)
    try:
        scoped.update_targets(data)
    except tuf.RepositoryError as e:
        check(refused == type(e).__name__, "a scoped set refused (%s) what the whole set %s"
              % (type(e).__name__, "refused as %s" % refused if refused else "accepted"))
        return
    check(refused is None, "a scoped set accepted what the whole set refused (%s)" % refused)
    want = {}
    for path, entry in whole["targets"].items():
        if any(delegations_mod.directly_in(path, d) for d in SCOPE):
            entry = dict(entry) if isinstance(entry, dict) else entry
            if isinstance(entry, dict) and isinstance(entry.get("custom"), dict):
                entry["custom"] = {k: v for k, v in entry["custom"].items() if k in tuf.DEVICE_CUSTOM}
            want[path] = entry
    check(scoped.targets["targets"] == want, "a scoped set kept other entries than the whole set's in its scope")
    rest = {k: v for k, v in whole.items() if k not in ("targets", "delegations")}
    check({k: v for k, v in scoped.targets.items() if k != "targets"} == rest,
          "a scoped set kept another signed part than the whole set")


def _partition(data):
    """The input as a state partition: whole 4 KiB blocks (at least 2), cut or 0xFF-padded."""
    n = max(2, min(8, len(data) // BLOCK))
    mem = bytearray(data[:n * BLOCK])
    mem.extend(b"\xff" * (n * BLOCK - len(mem)))
    return n, mem


def _state_summary(st):
    pend = st.pending
    names = st.blob_names()
    blobs = ",".join("%s=%s:%s" % (n, st.blob_version(n), _sha(st.blob(n))) for n in names)
    events = list(st.events())
    st.wear()
    return "%d:%d:%d:%s:%s:%d" % (st.floor, st.time_floor, st.boot_count, "-" if pend is None else
                                 "%s/%s/%d" % (pend["slot"], pend["version"], pend["secver"]), blobs, len(events))


def t_statelog(data, ctx):
    """Load the state; read every part of it; then commit one change and read it back."""
    n, mem = _partition(data)
    dev = ctx["nor"](n)
    dev.mem[:] = mem
    try:
        st = statelog.load(dev)
        before = _state_summary(st)
    except statelog.StateError as e:
        return _declared(e), None
    floor, time_floor, boots, root = st.floor, st.time_floor, st.boot_count, st.root()
    want = floor + 1 if floor < U32 else floor
    try:
        got = st.raise_floor(want)
    except statelog.StateError as e:
        return "ok:%s:%s" % (before, _declared(e)), (floor, time_floor, boots)
    check(got == want, "raise_floor returned %d, not %d" % (got, want))
    check(dev.faults == 0, "the writer programmed a 0 bit back to 1")
    try:
        again = statelog.load(dev)
    except statelog.StateError as e:
        raise PropertyError("committed state no longer loads: %s" % e)
    check(again.floor == want, "floor %d read after committing %d" % (again.floor, want))
    check(again.time_floor >= time_floor and again.boot_count >= boots, "a monotonic value went down")
    check(again.root() == root, "the root changed when the floor was raised")
    return "ok:%s:%d" % (before, again.floor), (floor, time_floor, boots)


def _write(path, data):
    f = open(path, "wb")
    try:
        f.write(data)
    finally:
        f.close()


def t_config(data, ctx):
    _write(ctx["path"], data)
    try:
        c = config.load(ctx["path"])
    except config.ConfigError as e:
        return _declared(e), None
    check(c.policy in config.POLICIES, "policy outside the allowed values")
    check(1000 <= c.health_ms <= 3600000, "health_ms out of range")
    return "ok:%s:%s:%s:%s:%s:%d:%s" % (c.board, c.chip_id, c.channel, c.policy, c.health, c.health_ms,
                                       c.state), c


def t_otaconfig(data, ctx):
    _write(ctx["path"], data)
    try:
        c = otaconfig.load(ctx["path"])
    except otaconfig.OtaConfigError as e:
        return _declared(e), None
    check(c.url.startswith("https://"), "url not https")
    fields = sorted(k for k in c.__dict__)
    return "ok:" + ":".join("%s=%s" % (k, getattr(c, k)) for k in fields), c


# The key and message t_p256 verifies against (fuzz/targets/device.py signs its seeds with the
# key's secret and checks it is this one).
P256_KEY = unhexlify("04a7dffa286bb09a4f5a5d25546ac43bd4ffb5c85b1bfdf2a9e6ee074d415d2f8d"
                     "e6f40366c989022062ae6e833d2921c6484be43fc9888bf2036640ede1165047")
P256_MESSAGE = b"mpboot fuzz p256"


def _rs(rs):
    return "-" if rs is None else "%s,%s" % (hexlify(rs[0].to_bytes(32, "big")).decode(),
                                            hexlify(rs[1].to_bytes(32, "big")).decode())


def t_p256(data, ctx):
    """The strict P-256 parsers on the same bytes: as DER, as r || s, as a PEM public key (when
    the bytes are UTF-8), then whether the DER verifies for P256_KEY. They never raise."""
    der = p256.decode_der(data)
    raw = p256.decode_raw(data)
    try:
        text = data.decode()
    except UnicodeError:
        text = None
    key = p256.public_key_from_pem(text)
    ok = p256.verify(P256_KEY, P256_MESSAGE, der)
    check(ok is (der is not None and ok), "verified a signature that did not decode")
    summary = "ok:der=%s:raw=%s:pem=%s:verifies=%d" % (_rs(der), _rs(raw), hexlify(key).decode() if key else "-", ok)
    return summary, (der, raw, key, ok)


class _BundleSink:
    """What an install would be handed: checks the protocol's order and records every file."""

    def __init__(self):
        self.bundle = None
        self.files = []

    def start(self, b):
        check(self.bundle is None and not self.files, "start after a file, or twice")
        self.bundle = b

    def begin(self, path, size):
        check(self.bundle is not None, "a file before start")
        check(not self.files or self.files[-1][2], "a file begun before the last one ended")
        self.files.append([path, hashlib.sha256(), False, 0])

    def write(self, chunk):
        f = self.files[-1]
        check(not f[2], "bytes after a file ended")
        f[1].update(chunk)
        f[3] += len(chunk)

    def end(self, path):
        check(self.files[-1][0] == path and not self.files[-1][2], "end of a file not begun")
        self.files[-1][2] = True


def t_bundle(data, ctx):
    sink = _BundleSink()
    try:
        b = bundle.verify_stream(io.BytesIO(data), ctx["root"], sink=sink, chip_id=0, board="esp32-4mb")
    except bundle.BundleError as e:
        return _declared(e), None
    check(b.length == len(data) and sink.bundle is b, "verified a bundle of another length than its input")
    check([(f[0], f[3], f[1].digest(), f[2]) for f in sink.files] == [(p, n, d, True) for p, n, d in b.files],
          "the sink got other bytes than the manifest lists")
    # What the manifest says, not its bytes: whitespace the signature does not cover changes no
    # decision.
    said = "%s:%s:%d:%s:%s:%s:%s:%s:" % (b.name, b.version, b.security_version, b.board, b.chip_id, b.mpy,
                                        b.min_firmware, b.entry)
    said += ",".join("%s=%d=%s" % (p, n, hexlify(d).decode()) for p, n, d in b.files)
    return "ok:%s:%s" % (b.name, _sha(said.encode())), b


def t_pointer(data, ctx):
    """A bundle's pointer (/bundles/NAME/boot), which decides the copy a boot runs."""
    try:
        p = bundlestore.parse_pointer(data)
    except bundle.BundleError as e:
        return _declared(e), None
    # One spelling per state: what the device accepts is exactly what it would write.
    check(p.text().encode() == bytes(data), "a pointer that is not its own canonical text")
    check((p.trial is None or p.trial != p.active) and (p.mark is None or p.trial is not None),
          "an impossible pointer state")
    return "ok:%s" % p.text(), p


def loader(source, directory):
    """The fixed loader's functions (firmware/boot.py without its last lines, which boot), run
    from its own source with its bundle directory D pointed at `directory`."""
    g = {"__name__": "loader"}
    exec(source, g)
    g["D"] = directory
    return g


def t_loader(data, ctx):
    """The loader's own reading of the pointer (boot.py `_pointer`), the one repetition of
    bundlestore's format in the device code: it must take what parse_pointer takes, as the same
    (active, trial, mark), and refuse the rest, or the loader and the stage disagree on which
    copy runs."""
    g = ctx["loader"]
    _write(g["D"] + "boot", data)
    got = g["_pointer"]()
    try:
        # What read_pointer reads: one byte more than a pointer holds.
        p = bundlestore.parse_pointer(bytes(data[:bundlestore.MAX_POINTER + 1]))
        want = (p.active, p.trial, p.mark)
    except bundle.BundleError:
        want = None
    check(got == want, "the loader read %r, bundlestore %r" % (got, want))
    return "ok:%s" % (got,), got


def t_kept(data, ctx):
    """A copy's kept manifest (D/a.mpbm) read back from flash without its signature: the
    loader's integrity check (boot.py `_intact`) and bundlefetch.kept/unverified (what the
    updater takes as installed), over a copy holding the files of KEPT_FILES."""
    g = ctx["loader"]
    path = g["D"] + "a" + bundlestore.MANIFEST
    _write(path, data)
    intact = g["_intact"]("a")
    check(intact is True or intact is False, "_intact answered %r" % (intact,))
    try:
        b = bundlefetch.unverified(data)
    except bundle.BundleError as e:
        check(bundlefetch.kept(path) is None, "kept() read what unverified() refused")
        try:
            cjson.check_syntax(data, bundle.MAX_DEPTH)
        except ValueError:
            # Not JSON to the device's strict check: the loader reads it with its port's json,
            # and MicroPython's takes some such text (a raw control character, a missing comma)
            # that CPython's refuses. On a board that only costs a reset: the copy's stage
            # refuses the manifest (bad-manifest) and switches to the other copy, where the
            # loader would have gone directly (docs/fuzzing.md). Its answer is not compared.
            return "%s:intact=?" % _declared(e), None
        return "%s:intact=%d" % (_declared(e), intact), None
    check(bundlefetch.kept(path) is not None, "kept() refused what unverified() read")
    try:
        bundle.verify_files(b, g["D"] + "a")
        files = "ok"
    except bundle.BundleError as e:
        files = e.reason
    # Every file as its manifest says (what the stage checks, and more): the loader must not
    # take that copy for damaged, or it boots the other copy or none.
    check(files != "ok" or intact, "the loader found damaged a copy that verify_files accepts")
    said = ",".join("%s=%d=%s" % (p, n, hexlify(d).decode()) for p, n, d in b.files)
    return "ok:%s:%s:%s:files=%s:intact=%d" % (b.name, b.version, _sha(said.encode()), files, intact), b


class _BlobState:
    """What tufstore reads of a state log: its "tuf" blob."""

    def __init__(self, blob):
        self._blob = blob

    def blob(self, name, start=0, length=None):
        """As statelog.State.blob: the part from `start`, at most `length` bytes, cut at the end."""
        if name != tufstore.BLOB:
            return None
        start = min(start, len(self._blob))
        return self._blob[start:] if length is None else self._blob[start:start + length]

    def blob_length(self, name):
        return len(self._blob) if name == tufstore.BLOB else None

    def blob_names(self):
        return [tufstore.BLOB]


def t_tufstore(data, ctx):
    """The stored TUF set's description (tufstore.Stored) read back from the state log's "tuf"
    blob, and every document the store hands back from it. Nothing may raise: a blob that does
    not add up reads as less stored (the next check downloads again)."""
    st = tufstore.Stored(data)
    n = len(data)
    if st.expires is None:
        check(st.lengths == [0, 0, 0] and not st.delegated, "no set described, yet documents stored")
    end = st.offset(3)
    check(st.expires is None or end <= n, "documents outside the blob")
    for name, _, off, length, _ in st.delegated:
        check(end <= off and off + length <= n, "a delegated role outside the blob")
        end = off + length
    check(not st.delegated or end == n, "delegated roles that do not end the blob")
    store = tufstore.Store(_BlobState(data), None)
    loaded = []
    for role in tufstore.ROLES + tuple(e[0] for e in st.delegated):
        doc = store.load(role)
        loaded.append("-" if doc is None else _sha(bytes(doc)))
    return "ok:%s:%s:%s:%s:%s:%s" % (st.expires, st.versions, st.lengths, st.expiries,
                                     ",".join("%s/%d/%d/%d/%d" % e for e in st.delegated),
                                     ",".join(loaded)), st


# Versions every input is ordered against (t_version): the order must be one total preorder.
VERSIONS = ("0", "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0",
            "1.0.0+build", "1.2", "1.2.3.4", "2.0.0", "99999999999999999999")


def t_version(data, ctx):
    """Release versions (version.parse, compare) as signed metadata carries them: the input's
    text, or two versions split at its first newline."""
    try:
        text = bytes(data).decode()
    except UnicodeError:
        return "E:UnicodeError", None
    a, _, b = text.partition("\n")
    try:
        pa = version.parse(a)
    except ValueError as e:
        return _declared(e), None
    check(version.compare(a, a) == 0, "a version not equal to itself")
    order = [version.compare(a, r) for r in VERSIONS]
    for i, r in enumerate(VERSIONS):
        check(version.compare(r, a) == -order[i], "compare is not antisymmetric")
        for j, s in enumerate(VERSIONS):
            c = version.compare(r, s)
            # a <= r <= s means a <= s, strictly when either step is (and the mirror).
            for sign in (-1, 1):
                if order[i] * sign >= 0 and c * sign >= 0:
                    check(order[j] == (0 if order[i] == c == 0 else sign),
                          "the order is not transitive: %s, %s, %s" % (a, r, s))
    out = "ok:%s:%s:%s" % (pa[0], pa[1], "".join("<=>"[o + 1] for o in order))
    try:
        c = version.compare(a, b)
    except ValueError as e:
        return out + ":" + _declared(e), pa
    check(c == -version.compare(b, a), "compare is not antisymmetric")
    return out + ":%d" % c, pa


TARGETS = {
    "loader": t_loader,
    "kept": t_kept,
    "tufstore": t_tufstore,
    "version": t_version,
    "bundle": t_bundle,
    "pointer": t_pointer,
    "image": t_image,
    "appimage": t_appimage,
    "cjson": t_cjson,
    "root": t_root,
    "rootupdate": t_rootupdate,
    "timestamp": t_timestamp,
    "snapshot": t_snapshot,
    "targets": t_targets,
    "statelog": t_statelog,
    "config": t_config,
    "otaconfig": t_otaconfig,
    "p256": t_p256,
}


def outcome(name, data, ctx):
    """The summary line for one input, on either runtime: 'X:' for anything undeclared."""
    try:
        return TARGETS[name](data, ctx)[0]
    except PropertyError as e:
        return "P:%s" % e
    except Exception as e:  # noqa: BLE001 - the finding itself
        return "X:%s:%s" % (type(e).__name__, e)


def read_inputs(raw):
    """Inputs packed as u32 length + bytes, one after another (how a batch crosses the bridge)."""
    out = []
    pos = 0
    while pos < len(raw):
        n = struct.unpack_from("<I", raw, pos)[0]
        out.append(bytes(raw[pos + 4:pos + 4 + n]))
        pos += 4 + n
    return out
