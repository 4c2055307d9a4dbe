"""Heap a full TUF refresh needs on the device: measured on MicroPython, cross-checked on CPython.

MicroPython's WebAssembly port never collects garbage during a run (its gc_collect is empty; it
collects only between top-level calls), so a peak cannot be watched inside one call. Instead each
role's update is split at the points where the most is alive, one run each, and the live heap is
read exactly after the collection between runs (above `idle`, the heap with the modules
imported): the document's bytes as fetched; those bytes plus json.loads' result; then the
update itself (the trusted set keeps the parsed document). What lives only inside the update is
short-lived garbage: the canonical-form comparison (cjson.encoded_at, one part at a time) and the
Ed25519 verify. Their peaks are measured exactly by tracemalloc on CPython, where reference
counting frees garbage at once (CPython's objects are larger than MicroPython's 32-bit ones, so
those figures err high), and added to the largest boundary:

    estimate = max(live at a boundary) + max(encoded_at peak, Ed25519 peak)

The whole refresh's tracemalloc peak on CPython is reported as a cross-check.
"""

import hashlib
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from tufrepo import NOW, Repo, unix  # noqa: E402

import fixedheap  # noqa: E402
from mpboot_fw import ed25519, tuf, tufclient  # noqa: E402
from tracepeak import traced  # noqa: E402

ROLES = ("timestamp", "snapshot", "targets")

_SETUP = """
import gc, json, os
from mpboot_fw import tuf, tufclient
def rd(role):
    # into the refresh's one document buffer, at the document's size, as the updater's fetch
    # reads a document whose length the metadata lists
    path = '/data/' + role + '.json'
    n = os.stat(path)[6]
    with open(path, 'rb') as f:
        # over the cap: a device's fetch stops there, this is for the set's own refusal
        return f.read(n) if n > tuf.TARGETS_MAX else docs.read(f.readinto, n)
"""
_LIVE = "gc.collect()\nprint(gc.mem_alloc())"  # on the WebAssembly port the collection happens between runs


def repository(targets_bytes=None):
    """{role: bytes} of a repository with images like `mpboot publish` makes; with
    `targets_bytes`, as many images as fit in that many bytes of targets metadata."""
    repo = Repo(compact=True, hashes=True)
    count = 0
    while True:
        count += 1
        version = "1.%d.0" % count
        data = version.encode()
        custom = {"board": "esp32-4mb", "chip_id": 0, "channel": "stable", "version": version,
                  "security_version": 1, "payload_len": len(data),
                  "payload_sha256": hashlib.sha256(data).hexdigest(), "created": unix(NOW)}
        repo.add_target("esp32-4mb/stable/%s.mpb" % version, data, custom)
        if targets_bytes is None or len(repo.sign("targets")) > targets_bytes:
            if targets_bytes is not None:
                del repo.targets.targets["esp32-4mb/stable/%s.mpb" % version]
            break
    repo.publish_targets()
    return {role: repo.published[role][-1] for role in ("root", "timestamp", "snapshot", "targets")}


def refresh_steps():
    """[(boundary name, code)]: the refresh split where the most is alive."""
    # the buffer first, as the updater makes it before it parses the stored root
    steps = [("buffer made", "docs = tuf.DocumentBuffer()"),
             ("root fetched", "data = rd('root')"),
             ("root parsed", "doc = json.loads(data)"),
             ("root trusted", "del doc\nt = tuf.TrustedSet(data, %d)\ndel data" % unix(NOW))]
    for role in ROLES:
        steps += [(role + " fetched", "data = rd(%r)" % role),
                  (role + " parsed", "doc = json.loads(data)"),
                  (role + " trusted", "del doc\nt.update_%s(data)\ndel data" % role)]
    steps.append(("image chosen", "c = tufclient.find_image(t.targets, 0, 'esp32-4mb', 'stable', 0, '0.1.0')"))
    return steps


def _put(mp, files):
    mp.put_firmware()
    for role, data in files.items():
        mp.put_file("/data/%s.json" % role, data)


def measure_micropython(mp, files):
    """{boundary name: live bytes above idle} and the largest, from one fresh interpreter."""
    mp.boot()
    _put(mp, files)
    mp.run(_SETUP).check()
    idle = _live(mp)
    live = {}
    for name, code in refresh_steps():
        mp.run(code).check()
        live[name] = _live(mp) - idle
    return {"idle": idle, "live": live, "largest": max(live.values())}


def refresh_factor(wasm_mp, unix_mp):
    """(factor, wasm, unix): the refresh at the caps' 64-bit factor, the unix port's live heap at
    its largest boundary over the WebAssembly port's, with both measurements. Parsed metadata
    grows more on 64 bits than the boot path's code does (unixport.HEAP_FACTOR_64), so a budget
    for work the refresh dominates converts by this."""
    files = repository(tuf.TARGETS_MAX)
    wasm = measure_micropython(wasm_mp, files)
    unix = measure_micropython(unix_mp, files)
    return unix["largest"] / wasm["largest"], wasm, unix


def fixed_heap_run(mp, files, free):
    """The refresh on the unix port with only `free` bytes of heap free after the modules are
    imported (tests/fixedheap.py): {"free", "failed"}."""
    return fixedheap.run_with_free(mp, lambda mp: _put(mp, files), _SETUP, refresh_steps(), free)


def _live(mp):
    return int(mp.run(_LIVE).check().split()[-1])


def transient_peak(files):
    """tracemalloc peak (bytes) of the short-lived work inside an update, on CPython: the
    canonical-form comparison of the largest document, and Ed25519 verify."""
    import json

    from mpboot_fw import cjson

    data = max(files.values(), key=len)
    signed = json.loads(data)["signed"]
    start = data.find(b'"signed":') + 9
    end, compare = traced(cjson.encoded_at, signed, data, start)
    assert end > 0
    return max(compare, ed25519_peak(files))


def estimate(mp, files):
    """The MicroPython measurement plus the transient peak: the figure held against the target."""
    measured = measure_micropython(mp, files)
    transient = transient_peak(files)
    return dict(measured, transient=transient, estimate=measured["largest"] + transient,
                cpython_refresh_peak=cpython_peak(files))


def ed25519_peak(files):
    """tracemalloc peak (bytes) of the root's own signature checks on CPython."""
    from mpboot_fw import trust

    signed, message, signatures = trust.load_envelope(files["root"], "root")
    root = trust.parse_root(signed)
    message = bytes(message)

    def verify_all():
        return [ed25519.verify(root.keys[keyid], message, sig) for keyid, sig in signatures.items()]

    results, peak = traced(verify_all)
    assert results and all(results)
    return peak


def cpython_peak(files):
    """tracemalloc peak (bytes) of a whole refresh on CPython, the stored bytes discarded (a
    device writes them to flash)."""

    class FlashStore:
        def load(self, role):
            return None

        def save(self, role, data):
            pass

    def fetch(path, max_length):
        # no newer root; "timestamp.json", "N.snapshot.json" ... name their role
        return None if path.endswith("root.json") else bytes(files[path.split(".")[-2]])

    def update():
        trusted = tuf.TrustedSet(bytes(files["root"]), unix(NOW))
        tufclient.refresh(trusted, fetch, FlashStore())
        tufclient.find_image(trusted.targets, 0, "esp32-4mb", "stable", 0, "0.1.0")

    return traced(update)[1]
