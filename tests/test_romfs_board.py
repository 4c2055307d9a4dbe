"""The device package run from a ROMFS partition (boards/esp32-4mb-romfs.json, docs/romfs.md).

Provisioning writes the ROMFS image of the package's active copy into the `romfs` partition; the
emulated board mounts it at /rom as a firmware built with ROMFS does (held in heap the host adds
for it: this port has no memory-mapped flash, _emu.mount_romfs). The loader runs mpboot's code
from there only when it holds exactly the copy's files; anything else (erased, a flipped byte, an
extra file) falls back to the copy on the filesystem, and the board boots as before.

The heap: a whole over-the-air update (TLS, the refresh, download and install, the trial boot
and the next check) with the code in ROMFS, bisected in 4 KiB steps on the unix port's fixed heap
as tests/test_ota_heap_floor.py does (every heap it fails in must fail cleanly), within an
ESP32's: unixport.board_heap() plus the board's own setup before boot.py (tests/
test_boot_heap_floor.py; about 161.5 KiB). Measured 154 KiB in five sweeps every 1 KiB from 140
to 170 KiB, each heap from there up completing, against 220 KiB from files (docs/emulator.md);
160-163 before the check for extra files in a bundle stopped sorting a list of names and
Ed25519's table of B multiples became bytes. Near it the boot stage may fail closed (its own
floor from /rom is about 136-138 KiB): such a heap counts as one the update did not complete in.
A heap 8 KiB under the minimum must fail, cleanly.
"""

import io

import pytest

from bundleboard import package_files

from emuboard import unix_runtime
from fixedheap import smallest_heap
from mpboot import boards
from mpboot.emulator.flash import CUT_MODES, CutPlan, NorFlash
from mpboot.mpy.unixport import UnixMicroPython, board_heap
from mpboot.repo.publish import publish
from mpboot_fw import romfs
from otaworld import MAIN, World
from test_boot_heap_floor import board_setup
from test_ota_heap_floor import update

BOARD = boards.load_board("esp32-4mb-romfs")
ROMFS = BOARD.partition(boards.ROMFS_PARTITION)
WHERE = "from mpboot_fw import updater\nprint('updater:', updater.__file__)\n"
FROM_ROM, FROM_COPY = "/rom/mpboot_fw/updater.mpy", "/bundles/mpboot/a/mpboot_fw/updater.mpy"
# The whole update's minimum above the mapped partition, as docs/romfs.md gives it, and the
# bisection's bounds: from 8 KiB below it, where the update must fail cleanly.
MINIMUM = 154 * 1024
LOW, HIGH, STEP = MINIMUM - 8 * 1024, 240 * 1024, 4 * 1024


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    w = World(tmp_path_factory.mktemp("romfs"), unix_runtime(), board=BOARD, package=True, files={"/main.py": WHERE})
    w.provisioned = bytes(w.flash.mem)  # each test starts from it: they boot copies, some of them damaged
    yield w
    w.close()


@pytest.fixture(scope="module")
def esp32_heap(tmp_path_factory):
    """An ESP32's Python heap here: board_heap() plus what the emulated board holds itself
    before boot.py (C on a board)."""
    return board_heap() + board_setup(tmp_path_factory.mktemp("setup"))


def where_from(w, flash):
    w.use_flash(flash)
    record = w.boot()
    assert record.outcome == "ok" and "verified" in record.text, record.text
    return [ln.split(" ", 1)[1] for ln in record.output if ln.startswith("updater:")][0]


def test_the_package_runs_from_romfs(world):
    assert where_from(world, NorFlash(data=world.provisioned)) == FROM_ROM


def romfs_of(files):
    image = romfs.Image([(path, len(data)) for path, data in sorted(files.items())])
    out = bytearray()
    image.write(out.extend, lambda path: io.BytesIO(files[path]), bytearray(4096))
    return bytes(out)


@pytest.mark.parametrize("damage", ["erased", "flipped byte", "cut short", "one file more"])
def test_a_romfs_that_is_not_the_copy_falls_back_to_the_copy(world, damage):
    data = bytearray(world.provisioned)
    start = ROMFS.offset
    if damage == "erased":
        data[start:start + ROMFS.size] = b"\xff" * ROMFS.size
    elif damage == "flipped byte":
        data[start + ROMFS.size // 4] ^= 0x01  # inside a file's bytes: the image still mounts
    elif damage == "cut short":
        data[start + 4096:start + ROMFS.size] = b"\xff" * (ROMFS.size - 4096)
    else:  # every file of the copy, and a source that MicroPython would import before its .mpy
        rom = romfs_of(dict(package_files(), **{"mpboot_fw/updater.py": b"print('not the copy')\n"}))
        data[start:start + len(rom)] = rom
    flash = NorFlash(data=bytes(data))
    assert where_from(world, flash) == FROM_COPY
    # That boot wrote the copy into the partition (romboot.py), and the next runs it from flash.
    assert ("romfs-written", "", "mpboot a") in [e[1:] for e in world.state().events()]
    assert where_from(world, flash) == FROM_ROM


TAMPER = """
with open("/bundles/mpboot/a.mpbm", "rb") as f:
    d = bytearray(f.read())
i = d.find(b'"sig"')
j = d.find(b'"', i + 5) + 1
d[j] = 48 if d[j] != 48 else 49
with open("/bundles/mpboot/a.mpbm", "wb") as f:
    f.write(d)
print("tampered")
"""


def test_the_copy_run_from_romfs_is_verified_by_the_stage(world):
    """The loader's hash check ties /rom to the kept manifest; the stage checks the manifest's
    signature as for a copy run from its directory: a manifest whose signature does not verify
    holds the application back, though /rom matches every file it lists."""
    flash = NorFlash(data=world.provisioned)
    world.use_flash(flash)
    assert "tampered" in world.boot(repl=TAMPER).output
    record = world.boot()
    assert not [ln for ln in record.output if ln.startswith("updater:")], record.text
    assert "bundle-refused" in record.text, record.text


def erased_romfs(world):
    data = bytearray(world.provisioned)
    data[ROMFS.offset:ROMFS.offset + ROMFS.size] = b"\xff" * ROMFS.size
    return bytes(data)


REFRESH = """
import esp32
from mpboot_fw import romboot
part = esp32.Partition.find(esp32.Partition.TYPE_DATA, label="romfs")[0]
print("refreshed:", romboot.refresh(part, "a", bytearray(4096)))
"""


def test_a_romfs_that_holds_the_copy_is_not_written_again(world):
    """romboot.refresh compares first: a partition that holds the image is left alone (a
    firmware that does not mount it would otherwise have it written on every boot)."""
    flash = NorFlash(data=world.provisioned)
    world.use_flash(flash)
    before = len(flash.ops)
    record = world.boot(repl=REFRESH)
    assert "refreshed: False" in record.output, record.text
    assert not [op for op in flash.ops[before:] if ROMFS.offset <= op[2] < ROMFS.offset + ROMFS.size]
    # Damaged: the copy runs from its directory, the stage writes the partition, and then it
    # holds the image again.
    flash.mem[ROMFS.offset + ROMFS.size // 4] ^= 0x01
    record = world.boot(repl=REFRESH)
    assert "mpboot: boot %d: romfs-written mpboot a" % world.state().boot_count in record.output, record.text
    assert "refreshed: False" in record.output, record.text
    assert where_from(world, flash) == FROM_ROM


def test_power_cut_at_every_operation_of_the_romfs_write(world):
    """Each flash operation of the boot that writes the partition cut before, torn and after:
    every boot that runs the application runs it verified, from the copy or from /rom, and the
    boots after the cut end on /rom."""
    base = erased_romfs(world)
    clean = NorFlash(data=base)
    assert where_from(world, clean) == FROM_COPY
    ops = len(clean.ops)
    assert ops > ROMFS.size // 4096 // 2  # the write is in it: the image's blocks, erased and written
    # Every mode at the partition's operations; the others' (the state log's, swept in its own
    # tests) one mode each, rotating.
    points = [(k, mode) for k in range(ops) for mode in CUT_MODES
              if ROMFS.offset <= clean.ops[k][2] < ROMFS.offset + ROMFS.size or mode == CUT_MODES[k % 3]]
    for k, mode in points:
        flash = NorFlash(data=base)
        flash.cut = CutPlan(k, mode)
        where, outcomes = None, []
        while where != FROM_ROM and len(outcomes) < 4:
            world.use_flash(flash)
            record = world.boot()
            outcomes.append(record.outcome)
            assert record.outcome in ("ok", "power_cut"), (k, mode, record.text)
            if record.outcome == "ok":
                assert "verified" in record.text, (k, mode, record.text)
                where = [ln.split(" ", 1)[1] for ln in record.output if ln.startswith("updater:")][0]
                assert where in (FROM_COPY, FROM_ROM), (k, mode, where)
        assert where == FROM_ROM and "power_cut" in outcomes, (k, mode, outcomes)


def attempt(w, base, heap):
    """update() in `heap` above the partition; a boot stage that failed closed in it (its
    MemoryError logged, the application held back, the next boots in an ample heap normal:
    verified, the update installed and its trial run) counts as an update that did not
    complete: near this floor the stage reaches its own."""
    try:
        return update(w, base, heap + ROMFS.size)
    except AssertionError:
        if ("stage-error", "MemoryError") not in {e[1:3] for e in w.state().events()}:
            raise
    with UnixMicroPython(heap=HIGH + ROMFS.size) as runtime:
        w.runtime = runtime
        w.use_flash(w.flash)
        clock = w.state().time_floor + 60
        record = w.boot(clock=clock, options={"backoff_ms": 10})
        if record.outcome == "reset":  # its check installed the update: the trial boot runs it
            record = w.boot(clock=clock, options={"backoff_ms": 10})
    assert record.outcome == "ok" and "verified" in record.text, record.text
    return False


def boots_in(w, heap, count):
    """`count` boots of the board in `heap` (above the partition), each with an update check;
    every boot runs the application on verified code or resets (the stage's recovery after
    its failure is logged). Returns where the updater ran from, in each boot that ran it."""
    wheres = []
    with UnixMicroPython(heap=heap + ROMFS.size) as runtime:
        w.runtime = runtime
        w.use_flash(w.flash)
        for _ in range(count):
            record = w.boot(clock=w.state().time_floor + 60, options={"backoff_ms": 10})
            assert record.outcome in ("ok", "reset"), record.text
            if record.outcome == "ok":
                assert "verified" in record.text, record.text
                wheres.append([ln.split(" ", 1)[1] for ln in record.output if ln.startswith("updater:")][0])
    assert set(wheres) <= {FROM_ROM, FROM_COPY} and wheres[-2:] == [FROM_ROM, FROM_ROM], wheres
    return wheres


def test_a_package_update_in_an_esp32_heap_leaves_the_board_on_its_copy_in_romfs(tmp_path, esp32_heap):
    """mpboot's own package offered over the air to the ROMFS board in an ESP32's heap
    (board_heap() plus the board's setup). Its trial would run from the copy's directory, which
    needs far more heap than from /rom (docs/romfs.md). Whatever part fails, every boot runs the
    application on verified code, from /rom once the board has settled, and the failure is
    logged. Measured: the check fails in the install (MemoryError) at every boot; installed in
    an ample heap instead, the trial's boot stage fails (MemoryError, the stage's recovery
    resets) and the loader's next boot rolls the copy back and runs the old one from /rom."""
    w = World(tmp_path, unix_runtime(), board=BOARD, package=True, files={"/main.py": WHERE + MAIN})
    try:
        assert "ota: current" in w.boot().output
        (tmp_path / "mpboot.mpbundle").write_bytes(w.package_bundle("2.0.0", {"mpboot_fw/release.txt": b"2.0.0\n"}))
        publish(w.repo(), w.keyring(w.repo()), tmp_path / "mpboot.mpbundle", "stable")
        boots_in(w, esp32_heap, 3)
        events = w.state().events()
        assert ("ota-error", "MemoryError") in [e[1:3] for e in events] or \
            ("bundle-installed", "", "mpboot 2.0.0 b") in [e[1:] for e in events], events
        # Installed where the heap is ample, the trial then runs in the ESP32's.
        w.runtime = unix_runtime()
        w.use_flash(w.flash)
        installs = w.boot(clock=w.state().time_floor + 60, options={"backoff_ms": 10})
        assert installs.outcome == "reset", installs.text
        assert ("bundle-installed", "", "mpboot 2.0.0 b") in [e[1:] for e in w.state().events()]
        since = w.state().boot_count
        boots_in(w, esp32_heap, 3)
        after = [e[1:] for e in w.state().events() if e[0] > since]
        assert ("bundle-rolled-back", "stage-error", "mpboot b") in after or \
            ("bundle-confirmed", "", "mpboot 2.0.0 b") in after, after
    finally:
        w.close()


def test_the_boot_stage_from_romfs_fits_an_esp32_heap(world, esp32_heap):
    """The boot from /rom (the loader's checks, the stage verifying the firmware and the
    package's copy) in an ESP32's Python heap, board_heap(), plus what the emulated board holds
    itself before boot.py (C on a board) and the partition it maps: the application starts.
    Measured: it completes from about 136-138 KiB, this heap is about 161.5."""
    runtime = world.runtime
    try:
        with UnixMicroPython(heap=esp32_heap + ROMFS.size) as fixed:
            world.runtime = fixed
            assert where_from(world, NorFlash(data=world.provisioned)) == FROM_ROM
    finally:
        world.runtime = runtime


def test_whole_update_heap_with_the_package_in_romfs(tmp_path, esp32_heap):
    w = World(tmp_path, unix_runtime(), board=BOARD, package=True)
    try:
        assert "ota: current" in w.boot().output
        w.publish("2.0.0")
        w.flash.reset_log()
        base = bytes(w.flash.mem)
        # Heaps above the partition the emulator maps into it (_emu.mount_romfs).
        assert not attempt(w, base, LOW), "completed at the lower bound"
        assert attempt(w, base, HIGH), "did not complete at the upper bound"
        high = smallest_heap(lambda heap: attempt(w, base, heap), LOW, HIGH, STEP)
        print("whole update with the package in ROMFS: %d KiB above the partition" % (high // 1024))
    finally:
        w.close()
    assert high <= esp32_heap, (high, esp32_heap)
