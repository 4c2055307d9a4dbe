"""Power cuts inside a bundle install on the emulated board (the unix port, whose VfsLfs2
mounts the vfs partition inside the NOR flash model: every block LittleFS programs or erases
is a numbered flash operation).

At the board's REPL, mpboot_fw.bundlestore.install reads a bundle from the (emulated) serial
link, as `mpboot install --flash` runs it. Two starting points: the first install of the
bundle (nothing there: it writes copy a and the pointer "- a"), and the next one (copy a
confirmed, pointer "a": it writes copy b and "a b"). The power is cut at a flash operation of
the clean run; then the board boots again and, at its REPL:
- the pointer parses (a cut leaves the old pointer or the new one: boot.tmp + rename);
- every copy it names verifies in full (kept manifest against the root, every file's size and
  hash, nothing extra): the half-written copy is never named;
- the confirmed copy, when there is one, is still the old one and verifies;
- the install then runs again on whatever the cut left and ends as the clean run does (when
  the cut came after the pointer was written, a second install is refused as a trial in
  progress, and the pointer already is the clean run's).
make test cuts a deterministic sample (cut_points: after each of the first operations, where a
first install writes the pointer "-", and of the last ones, where the pointer is written; and
every Nth between, the mode rotating through before, torn and after; 20 cuts per scenario); MPBOOT_FULL_SWEEP=1 cuts every operation in every mode.
"""

import json
import os
from pathlib import Path

import pytest

from emuboard import new_flash, unix_runtime
from mpboot import boards, mpycross, provision, resources
from mpboot.emulator.board import Board
from mpboot.emulator.flash import CUT_MODES, CutPlan, NorFlash
from mpboot.emulator.partition import FlashPartition
from mpboot.manualinstall import SERVICE, SerialLink
from mpboot_fw import bundle, statelog, trust

FULL = os.environ.get("MPBOOT_FULL_SWEEP") == "1"
BOARD = boards.load_board("esp32-4mb")
STATE = BOARD.partition(boards.STATE_PARTITION)
DATA = Path(__file__).resolve().parent / "device" / "data"
ROOT_JSON = (DATA / "root.json").read_bytes()
GOOD = (DATA / "bundle" / "good.mpbundle").read_bytes()  # app 1.2.0
V2 = (DATA / "bundle" / "good_v2.mpbundle").read_bytes()  # app 1.3.0
HEAD, TAIL, SPREAD = 8, 6, 6  # cuts per scenario in make test: see cut_points
VERSION = {"first": "1.2.0", "next": "1.3.0"}  # what each scenario installs

# What runs at the REPL: report what a boot finds, then (install=True) install from the serial
# link and report again. One line per fact, for the host to compare.
REPL = """
from _emu import call
from mpboot_fw import bundlestore as s, context

ctx = context.load()


class _Serial:
    def readinto(self, buf):
        return call("serial.read", None, buf, 0)


def report():
    try:
        p = s.read_pointer("app")
    except s.BundleError as e:
        print("pointer bad", e.reason)
        return None
    print("pointer", p.text())
    for c in (p.active, p.trial):
        if c is not None:
            try:
                print("copy", c, s.load_copy(ctx, "app", c).version)
            except s.BundleError as e:
                print("copy", c, "bad", e.reason)
    return p


p = report()
if %(install)r:
    try:
        print("installed", s.install(_Serial(), ctx).version)
    except s.BundleError as e:
        print("refused", e.reason)
    report()
"""


@pytest.fixture(scope="module")
def runtime():
    return unix_runtime()


def _copy_files(data, copy):
    """{"/bundles/app/COPY/...": bytes} and its manifest: the bundle laid out as an install
    leaves it, read by the device's own verify_stream."""
    out = {}

    class Sink:
        def start(self, b):
            out["/bundles/%s/%s.mpbm" % (b.name, copy)] = bytes(b.manifest)
            self.prefix = "/bundles/%s/%s/" % (b.name, copy)

        def begin(self, path, size):
            self.path, self.data = self.prefix + path, b""

        def write(self, chunk):
            self.data += bytes(chunk)

        def end(self, path):
            out[self.path] = self.data

    bundle.verify_stream(_Stream(data), trust.load_root(ROOT_JSON), Sink())
    return out


class _Stream:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def readinto(self, buf):
        n = min(len(buf), len(self.data) - self.pos)
        buf[:n] = self.data[self.pos:self.pos + n]
        self.pos += n
        return n


_BASES = {}


def base(scenario):
    """The flash before the install: the device package (compiled, as flash-image writes it),
    the configuration, the state log with the fixtures' root; for "next", copy a of app 1.2.0
    confirmed (pointer "a")."""
    if scenario not in _BASES:
        source = {mpycross.COMPILED_DIR + p.name: p.read_bytes()
                  for p in sorted(resources.device_package_dir().glob("*.py"))}
        files = mpycross.compile_package(source, mpycross.DEFAULT)
        files["/mpboot.json"] = json.dumps(provision.device_config(BOARD)).encode()
        if scenario == "next":
            files.update(_copy_files(GOOD, "a"))
            files["/bundles/app/boot"] = b"a"
        flash = new_flash(files)
        statelog.format_partition(FlashPartition(flash, STATE.offset, STATE.size), ROOT_JSON)
        flash.reset_log()
        _BASES[scenario] = bytes(flash.mem)
    return _BASES[scenario]


def new_bundle(scenario):
    return GOOD if scenario == "first" else V2


def expected(scenario):
    """The clean run's report after the install."""
    if scenario == "first":
        return ["pointer - a", "copy a 1.2.0"]
    return ["pointer a b", "copy a 1.2.0", "copy b 1.3.0"]


def boot(flash, runtime, data, install):
    b = Board(flash, BOARD, runtime=runtime, run_timeout=60.0)
    b.services[SERVICE] = SerialLink(data)
    return b.boot(repl=REPL % {"install": install})


def clean_run(scenario, runtime):
    flash = NorFlash(data=base(scenario))
    record = boot(flash, runtime, new_bundle(scenario), True)
    before = ["pointer -"] if scenario == "first" else ["pointer a", "copy a 1.2.0"]
    assert record.outcome == "ok" and record.output == before + ["installed " + VERSION[scenario]] + expected(scenario), \
        record.text
    return record.flash["operations"]


_OPS = {}


def ops_of(scenario, runtime):
    if scenario not in _OPS:
        _OPS[scenario] = clean_run(scenario, runtime)
    return _OPS[scenario]


def cut_points(ops):
    """Every operation in every mode with MPBOOT_FULL_SWEEP=1; else the first HEAD operations
    (the first pointer, the old copy's removal), the last TAIL (the pointer's commits: boot.tmp
    created, written, renamed; then the state log's event) and SPREAD more between them (most
    of an install's operations are file data programmed 128 bytes at a time), the mode rotating."""
    if FULL:
        return [(k, mode) for k in range(ops) for mode in CUT_MODES]
    middle = range(HEAD, ops - TAIL)
    step = max(1, len(middle) // SPREAD)
    # After each of the first and last operations: every state their commits leave (a cut
    # before an operation leaves what a cut after the one before it does).
    edges = [(k, "after") for k in list(range(HEAD)) + list(range(ops - TAIL, ops))]
    return sorted(edges + [(k, CUT_MODES[i % 3]) for i, k in enumerate(middle[step // 2::step])])


def check_after_cut(scenario, lines, where):
    """The report of the boot after a cut: (pointer words, lines checked)."""
    assert lines and lines[0].startswith("pointer ") and not lines[0].startswith("pointer bad"), where + "\n" + "\n".join(lines)
    words = lines[0].split()[1:]
    copies = [line.split() for line in lines[1:] if line.startswith("copy ")]
    for c in copies:
        assert c[2] != "bad", "%s: the pointer names a copy that does not verify: %s" % (where, lines)
    if scenario == "next":
        # The confirmed copy is the old one, untouched; a trial copy named is the new one.
        assert words[0] == "a" and copies[0] == ["copy", "a", "1.2.0"], (where, lines)
        assert words in (["a"], ["a", "b"]), (where, lines)
    else:
        assert words in (["-"], ["-", "a"]), (where, lines)
    return words


@pytest.mark.parametrize("scenario", ["first", "next"])
def test_a_clean_install(scenario, runtime):
    ops = ops_of(scenario, runtime)
    print("%s install: %d flash operations" % (scenario, ops))
    assert ops > 20


@pytest.mark.parametrize("scenario", ["first", "next"])
def test_power_cut_during_a_bundle_install(scenario, runtime):
    ops = ops_of(scenario, runtime)
    seen = set()
    for k, mode in cut_points(ops):
        where = "%s: %s op %d of %d" % (scenario, mode, k, ops)
        flash = NorFlash(data=base(scenario))
        flash.cut = CutPlan(k, mode)
        first = boot(flash, runtime, new_bundle(scenario), True)
        assert first.outcome == "power_cut", where + "\n" + first.text
        flash.cut = None
        second = boot(flash, runtime, new_bundle(scenario), True)
        assert second.outcome == "ok", where + "\n" + second.text
        lines = second.output
        i = next(i for i, line in enumerate(lines) if line.startswith(("installed", "refused")))
        words = check_after_cut(scenario, lines[:i], where)
        seen.add(len(words))
        done = words == expected(scenario)[0].split()[1:]
        # Installed again from what the cut left, or (the pointer was written) a trial is next.
        assert lines[i] == ("refused trial-in-progress" if done else "installed " + VERSION[scenario]), (where, lines)
        assert lines[i + 1:] == expected(scenario), (where, lines)
    # The cuts fall before the pointer and after it, not all on one side.
    assert seen == {1, 2}, seen
