"""A fleet's repository for measuring delegations: 1,000 images over 20 boards, made with
python-tuf's Metadata API (tests/tufrepo.py), and the metadata bytes a device downloads per check.

Layout (docs/ota.md, "Delegations"): top-level targets delegates `BOARD/*/*` to a role per board
(terminating, the board team's own key); each board role delegates `BOARD/CHANNEL/*` to a role
per channel (`BOARD/CHANNEL`), which lists that channel's images with `mpboot publish`'s custom
fields. `flat()` is the same images in top-level targets alone.

`checks()` runs a device's checks (tufclient over tufstore on a RAM state partition, exactly the
updater's metadata steps: refresh, then find_targets for the board's and the chip's directory)
through a story: a fresh device, nothing new, an image for another board, an image for its own
board and channel; and counts the bytes each check fetched.
"""

import hashlib
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE / "device"))

from nor_ram import NorRam  # noqa: E402
from tufrepo import NOW, Repo, fixed_key, unix  # noqa: E402

from mpboot_fw import statelog, tuf, tufclient, tufstore  # noqa: E402

BOARDS = ["esp32-b%02d" % i for i in range(20)]
CHANNELS = ("stable", "beta")
PER_CHANNEL = 25  # 20 boards x 2 channels x 25 = 1,000 images
DEVICE = ("esp32-b07", "stable")


def image(board, channel, version):
    """(path, bytes, custom) of an image as `mpboot publish` lists it."""
    data = ("image %s %s %s" % (board, channel, version)).encode()
    custom = {"board": board, "chip_id": 0, "channel": channel, "version": version, "security_version": 1,
              "payload_len": len(data), "payload_sha256": hashlib.sha256(data).hexdigest(), "created": unix(NOW)}
    return "%s/%s/%s.mpb" % (board, channel, version), data, custom


def delegated():
    """The fleet repository with a delegation per board (and per channel below it). Its snapshot
    lists versions only: with length and hashes, 61 entries are over the device's 8 KiB cap."""
    repo = Repo(hashes=False)
    for board in BOARDS:
        key = fixed_key("team " + board)
        repo.delegate("targets", board, paths=[board + "/*/*"], terminating=True, signers=[key])
        for channel in CHANNELS:
            role = board + "/" + channel
            repo.delegate(board, role, paths=[role + "/*"], terminating=True, signers=[key])
            for n in range(PER_CHANNEL):
                repo.add_target(*image(board, channel, "1.%d.0" % n), role=role)
    for role in repo.targets_roles():
        if role != "targets":
            repo.publish(role)
    repo.publish_targets()
    return repo


def flat():
    """The same images in top-level targets alone."""
    repo = Repo()
    for board in BOARDS:
        for channel in CHANNELS:
            for n in range(PER_CHANNEL):
                repo.add_target(*image(board, channel, "1.%d.0" % n))
    repo.publish_targets()
    return repo


def add_image(repo, board, channel, version):
    """Publish one more image into its channel's role (snapshot and timestamp follow)."""
    role = board + "/" + channel
    repo.add_target(*image(board, channel, version), role=role)
    repo.publish(role)
    repo.update_snapshot()


class Device:
    """A device's metadata side: its state partition (the root it was provisioned with) and the
    updater's metadata steps over tufclient and tufstore."""

    def __init__(self, repo, board=DEVICE[0], channel=DEVICE[1], chip_id=0):
        self.repo = repo
        self.dev = NorRam(16)
        statelog.format_partition(self.dev, repo.published["root"][0])
        self.directories = tufclient.directories(chip_id, board, channel)

    def check(self):
        """One check: {path fetched: bytes}, and the targets found."""
        fetched = {}

        def fetch(path, max_length):
            data = self.repo.fetch("metadata/" + path)
            if data is not None:
                if len(data) > max_length:
                    raise tuf.TooLarge("%s over %d bytes" % (path, max_length))
                fetched[path] = len(data)
            return data

        state = statelog.load(self.dev)
        trusted = tuf.TrustedSet(state.root(), unix(NOW), tuple(self.directories))
        store = tufstore.Store(state, trusted)
        found = {}
        try:
            tufclient.refresh(trusted, fetch, store)
            for directory in self.directories:
                found.update(tufclient.find_targets(trusted, fetch, store, directory))
        finally:
            store.commit()
        return fetched, found

    def stored(self):
        s = tufstore.stored(statelog.load(self.dev))
        return dict(zip(tufstore.ROLES, s.lengths)), [(e[0], e[3]) for e in s.delegated]


def checks():
    """[(check, {path: bytes}, images found, stored)] through the story of the module docstring."""
    repo = delegated()
    device = Device(repo)
    rows = []

    def run(name):
        fetched, found = device.check()
        rows.append((name, fetched, len(found), device.stored()))

    run("first check")
    run("nothing new")
    add_image(repo, "esp32-b03", "stable", "2.0.0")
    run("new image, other board")
    add_image(repo, DEVICE[0], DEVICE[1], "2.0.0")
    run("new image, own channel")
    return rows, repo


def sizes(repo):
    """Bytes of each metadata document the device's way touches, and the largest role."""
    board, channel = DEVICE
    latest = {role: len(repo.published[role][-1]) for role in repo.published if repo.published[role]}
    return {"timestamp": latest["timestamp"], "snapshot": latest["snapshot"], "targets": latest["targets"],
            "board role": latest[board], "channel role": latest[board + "/" + channel],
            "largest role": max(latest[r] for r in repo.targets_roles()),
            "all metadata": sum(latest.values()), "roles": len(repo.targets_roles())}


# -- heap on MicroPython -----------------------------------------------------------------------
_SETUP = """
import gc
from mpboot_fw import statelog, tuf, tufclient, tufstore
import nor_ram

def fetch(path, n):
    # as updater.Update._fetch_metadata: into the one document buffer (made at the start)
    try:
        with open('/data/' + path, 'rb') as f:
            return docs.read(f.readinto, n)
    except OSError:
        return None

dev = nor_ram.NorRam(16)
with open('/data/1.root.json', 'rb') as f:
    statelog.format_partition(dev, f.read())
state = statelog.load(dev)
gc.collect()
"""
STEP = "_a = gc.mem_alloc()\n%s\nprint('@@', gc.mem_alloc() - _a)"


def heap_steps():
    board, channel = DEVICE
    dirs = tuple(tufclient.directories(0, board, channel))
    return [
        ("start", "docs = tuf.DocumentBuffer()\nt = tuf.TrustedSet(state.root(), %d, %r)\n"
         "store = tufstore.Store(state, t)" % (unix(NOW), dirs)),
        ("root", "tufclient.STEPS[0](t, fetch, store)"),
        ("timestamp", "tufclient.STEPS[1](t, fetch, store)"),
        ("snapshot", "tufclient.STEPS[2](t, fetch, store)"),
        ("targets", "tufclient.STEPS[3](t, fetch, store)"),
        ("board role", "tufclient._load_role(t, fetch, store, %r, 'targets')" % board),
        ("channel role", "tufclient._load_role(t, fetch, store, %r, %r)" % (board + "/" + channel, board)),
        ("search", "found = {}\nfor d in %r:\n    found.update(tufclient.find_targets(t, fetch, store, d))" % (dirs,)),
        # as updater.Update._select: the choice, then the delegated roles' entries go
        ("chosen", "c = tufclient.find_image({'targets': found}, 0, %r, %r, 0, '1.0.0')\nfound = None\n"
         "t.release_delegated_targets()" % (board, channel)),
        ("commit", "docs = None\nstore.commit()"),  # as the updater's _commit
        ("dropped", "t = store = None"),
    ]


def heap(mp, repo):
    """The device's metadata steps for DEVICE on MicroPython, a step per run (the WebAssembly port
    collects only between runs, tests/tufmem.py): [(step, live after, allocated, bound)] in bytes
    above idle (modules imported, the RAM state partition made), where bound = live before +
    allocated, which the step's peak cannot exceed; and `estimate`, the largest over the steps
    of: live after + the transient peak of a check (tests/tufmem.py) for the steps that verify
    signatures (their garbage is large but short-lived); live before + the step's tracemalloc
    peak on CPython (which errs high) for the searches, the commit and the choice, whose garbage
    is short-lived (per candidate; the blob built and written)."""
    import tufmem
    from tracepeak import traced

    mp.boot()
    mp.put_firmware()
    mp.put_file("/lib/nor_ram.py", (HERE / "device" / "nor_ram.py").read_bytes())
    served = {}
    for role in repo.published:
        for version, data in enumerate(repo.published[role], 1):
            if role == "timestamp":
                continue
            served["%d.%s.json" % (version, _quote(role))] = data
    served["timestamp.json"] = repo.published["timestamp"][-1]
    for name, data in served.items():
        mp.put_file("/data/" + name, data)
    mp.run(_SETUP).check()
    idle = mp.live_heap()
    rows = []
    before = 0
    documents = {"root": repo.published["root"][0]}
    for name, code in heap_steps():
        allocated = int(mp.run(STEP % code).check().split("@@ ")[-1])
        # the collector is conservative: a pointer the run left on the stack can keep garbage
        # alive through one collection (tests/otamem.py): the smaller of two readings
        live = min(mp.live_heap(), mp.live_heap()) - idle
        rows.append((name, live, allocated, before + allocated))
        before = live
    board, channel = DEVICE
    for role in ("targets", board, board + "/" + channel):
        documents[role] = repo.published[role][-1]
    transient = tufmem.transient_peak(documents)
    peaks = _cpython_peaks(repo, traced)
    verifying = ("start", "root", "timestamp", "snapshot", "targets", "board role", "channel role")
    figures = []
    for i, (name, live, _, bound) in enumerate(rows):
        if name in verifying:
            figures.append(live + transient)
        elif name in peaks:
            figures.append(rows[i - 1][1] + peaks[name])
        else:
            figures.append(bound)
    return {"idle": idle, "rows": rows, "transient": transient, "peaks": peaks, "estimate": max(figures)}


def _cpython_peaks(repo, traced):
    """tracemalloc peaks (bytes) on CPython of the search, the commit and the choice of a first
    check, as heap_steps() makes it."""
    board, channel = DEVICE
    device = Device(repo)
    state = statelog.load(device.dev)
    trusted = tuf.TrustedSet(state.root(), unix(NOW), tuple(device.directories))

    def fetch(path, max_length):
        return repo.fetch("metadata/" + path)

    store = tufstore.Store(state, trusted)
    tufclient.refresh(trusted, fetch, store)
    tufclient._load_role(trusted, fetch, store, board, "targets")
    tufclient._load_role(trusted, fetch, store, board + "/" + channel, board)

    def search():
        found = {}
        for directory in device.directories:
            found.update(tufclient.find_targets(trusted, fetch, store, directory))
        return found

    found, search_peak = traced(search)
    _, choice_peak = traced(tufclient.find_image, {"targets": found}, 0, board, channel, 0, "1.0.0")
    found = None
    trusted.release_delegated_targets()
    committed, commit_peak = traced(store.commit)
    assert committed
    return {"search": search_peak, "chosen": choice_peak, "commit": commit_peak}


def _quote(role):
    from urllib.parse import quote

    return quote(role, "")
