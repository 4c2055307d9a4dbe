"""Power cuts inside a file update on the emulated board's filesystem (the unix port, whose own
VfsLfs2 mounts the vfs partition on esp32.Partition: every block program and erase LittleFS
makes is a numbered operation on the NOR flash model).

main.py writes a new file, writes a replacement and renames it over an old file, and removes a
third: the steps of an application's (or a bundle's) file update. Each flash operation of that
boot is cut before, in the middle of (torn) or after it. Then:
- the next boot mounts the filesystem (else inisetup would format or hang) and reads it, and
  littlefs-python reads the same files from the flash image (two LittleFS implementations, so
  what the device wrote is a filesystem any littlefs reads);
- what they read is exactly the state after one of the update's steps (each LittleFS commit is
  atomic: a file is old or new, never torn, and no step shows before the one ahead of it);
- the update then runs again on what the cut left and ends in the final state.

Two bases: a fresh image as `mpboot flash-image` builds it (littlefs-python), and a worn one,
whose root directory's metadata block is nearly full, so the update's commits compact it (an
erase and rewrite of the metadata pair amid the update). make test cuts every operation in one
mode (rotating); MPBOOT_FULL_SWEEP=1 cuts each in all three.
"""

import hashlib
import os

import pytest

from emuboard import new_flash, unix_runtime
from mpboot import boards
from mpboot.emulator import vfs
from mpboot.emulator.board import Board
from mpboot.emulator.flash import CUT_MODES, CutPlan, NorFlash

FULL = os.environ.get("MPBOOT_FULL_SWEEP") == "1"
BOARD = boards.load_board("esp32-4mb")
VFS = BOARD.partition("vfs")


def pattern(n, seed):
    return bytes((i * 7 + seed) & 0xFF for i in range(n))


OLD_CFG, NEW_CFG = pattern(3000, 1), pattern(5000, 2)  # whole blocks (CTZ lists), not inline
ADDED = pattern(300, 3)
OLD_TXT = b"to be removed\n"
MAIN = """
import os, hashlib, _host

def pattern(n, seed):
    return bytes((i * 7 + seed) & 0xFF for i in range(n))

def state():
    out = []
    for name in sorted(os.listdir('/')):
        if not name.endswith('.py'):
            with open(name, 'rb') as f:
                out.append('%%s=%%s' %% (name, hashlib.sha256(f.read()).digest().hex()[:16]))
    return ' '.join(out)

def write(name, data):
    with open(name, 'wb') as f:
        f.write(data)

if _host.call('test.phase', None, 0, 0, 0) == 'check':
    print('state', state())
write('added.bin', pattern(%d, 3))
write('cfg.new', pattern(%d, 2))
os.rename('cfg.new', 'cfg.json')
try:
    os.remove('old.txt')
except OSError:
    pass
print('state', state())
""" % (len(ADDED), len(NEW_CFG))
FILES = {"/main.py": MAIN, "/cfg.json": OLD_CFG, "/old.txt": OLD_TXT}
# The filesystem after each step of the update (a created file exists, empty, until it is closed).
STEPS = [{"cfg.json": OLD_CFG, "old.txt": OLD_TXT}]
for change in ({"added.bin": b""}, {"added.bin": ADDED}, {"cfg.new": b""}, {"cfg.new": NEW_CFG},
               {"cfg.new": None, "cfg.json": NEW_CFG}, {"old.txt": None}):
    STEPS.append({k: v for k, v in dict(STEPS[-1], **change).items() if v is not None})
# Rewrites of a small file that leave the root's metadata block nearly full: the clean update
# then compacts it (test_the_worn_base_compacts_amid_the_update checks that it does).
WORN_REWRITES = 109


@pytest.fixture(scope="module")
def runtime():
    return unix_runtime()


def base(kind):
    """The flash before the update: "fresh" as built, or "worn" by WORN_REWRITES rewrites."""
    flash = new_flash(FILES)
    if kind == "worn":
        data = bytearray(flash.read(VFS.offset, VFS.size))
        fs = vfs.mount(data)
        for i in range(WORN_REWRITES):
            with fs.open("/counter", "wb") as f:
                f.write(b"%d" % i)
        fs.remove("/counter")
        fs.unmount()
        flash.load(VFS.offset, bytes(data))
    flash.reset_log()
    return bytes(flash.mem)


def files_in(flash):
    """{name: bytes} of the root directory but the .py files, read by littlefs-python."""
    _, files = vfs.read_files(vfs.mount(bytearray(flash.read(VFS.offset, VFS.size))))
    return {path[1:]: data for path, data in files.items() if not path.endswith(".py")}


def line(files):
    """main.py's `state` line for `files`."""
    return "state " + " ".join("%s=%s" % (n, hashlib.sha256(files[n]).hexdigest()[:16]) for n in sorted(files))


def boot_run(runtime, start, cut=None):
    """The update on a copy of `start` (cut per `cut`), then a boot that reads and updates again."""
    flash = NorFlash(data=start)
    flash.cut = cut
    boots = []
    phase = lambda op, arg, body, n: "check" if boots else "update"  # noqa: E731
    board = Board(flash, BOARD, runtime=runtime, services={"test": phase})
    first = board.boot()
    boots.append(first)
    after_cut = files_in(flash)
    second = board.boot()
    return flash, first, after_cut, second


def vfs_ops(ops):
    return [op for op in ops if VFS.offset <= op[2] < VFS.end]


@pytest.fixture(scope="module", params=["fresh", "worn"])
def update(request, runtime):
    """(base bytes, the clean update's flash operations)."""
    start = base(request.param)
    flash, first, after, second = boot_run(runtime, start)
    assert first.outcome == "ok" and first.output == [line(STEPS[-1])], first.text
    assert after == STEPS[-1] and second.output == [line(STEPS[-1])] * 2, second.text
    ops = first.flash["operations"]
    assert ops and vfs_ops(flash.ops[:ops]) == flash.ops[:ops]  # only the filesystem writes then
    return request.param, start, ops, flash


def test_the_worn_base_compacts_amid_the_update(update):
    kind, _, ops, flash = update
    erases = [(op[2] - VFS.offset) // 4096 for op in flash.ops[:ops] if op[1] == "erase"]
    print("%s: %d flash operations, erases of blocks %s" % (kind, ops, erases))
    # Blocks 0 and 1 are the root directory's metadata pair: the fresh image's has room for the
    # update's commits; the worn one's runs out and is compacted (erased, rewritten).
    assert bool({0, 1} & set(erases)) == (kind == "worn"), flash.ops[:ops]


def test_the_device_reads_a_littlefs_python_image_and_writes_one_it_reads(runtime):
    # Both directions: mpboot's image (littlefs-python) mounts on the device, which reads the
    # files; what the device wrote, littlefs-python reads back (boot_run's checks above).
    flash, first, after, _ = boot_run(runtime, base("fresh"))
    assert after["cfg.json"] == NEW_CFG and after["added.bin"] == ADDED and "old.txt" not in after


@pytest.mark.parametrize("chunk", range(2))
def test_power_cut_at_every_flash_operation_of_the_update(update, runtime, chunk):
    kind, start, ops, _ = update
    points = [(k, m) for k in range(ops) for m in CUT_MODES] if FULL else [(k, CUT_MODES[k % 3]) for k in range(ops)]
    seen = set()
    for k, mode in points[chunk::2]:
        flash, first, after, second = boot_run(runtime, start, CutPlan(k, mode))
        where = "%s: %s op %d" % (kind, mode, k)
        assert first.outcome == "power_cut", where + "\n" + first.text
        assert after in STEPS, "%s: a state no step leaves: %r" % (where, {n: len(d) for n, d in after.items()})
        seen.add(STEPS.index(after))
        # The device mounts what the cut left and reads what littlefs-python reads; then it
        # completes the update from there.
        assert second.outcome == "ok" and second.output == [line(after), line(STEPS[-1])], where + "\n" + second.text
        assert files_in(flash) == STEPS[-1], where
    # The cuts fall between several steps, not all on one side of the update.
    assert len(seen) >= 3, seen
