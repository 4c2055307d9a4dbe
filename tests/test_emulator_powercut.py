"""A power cut at each flash operation of a small scripted write sequence on the emulated board.

main.py (real MicroPython) writes to the `mpboot` partition through esp32.Partition and ends
with set_boot(ota_1). The test models the same sequence on plain bytes: for every operation K
and every cut mode, the flash after the cut must hold exactly operations 0..K-1, operation K
before/torn/after, and nothing later; the next boot must start from power-on, read back what the
model says, and boot the slot the surviving otadata selects.

The script first creates a file (its mark that it ran): on the unix port those are LittleFS's
flash operations in the vfs partition, before the scripted ones; the sweep cuts only the
scripted ones (tests/test_lfs_powercut.py cuts the filesystem's).
"""

import hashlib

import pytest

from emuboard import app, board_runtime, new_flash
from mpboot import boards
from mpboot.emulator.board import Board
from mpboot.emulator.flash import CUT_MODES, CutPlan
from mpboot.espidf import otadata as od

BOARD = boards.load_board("esp32-4mb")
STATE = BOARD.partition("mpboot")
VFS = BOARD.partition("vfs")
OTADATA = BOARD.otadata
SECTOR = 4096

MAIN = """
import esp32, hashlib, machine
P = esp32.Partition
p = P('mpboot')
try:
    open('ran').close()
    buf = bytearray(8192)
    p.readblocks(0, buf)
    print('state', hashlib.sha256(buf).digest().hex())
except OSError:
    open('ran', 'w').close()
    p.ioctl(6, 0)                                   # op 0: erase block 0
    p.writeblocks(0, b'HEAD' * 4, 0)                # op 1
    p.writeblocks(0, bytes(range(64)), 16)          # op 2
    p.writeblocks(1, b'\\x5a' * 4096)                # ops 3, 4: erase block 1, write it
    p.writeblocks(1, b'\\x00' * 8, 100)             # op 5
    P('ota_1').set_boot()                           # ops 6, 7: otadata sector 1 erase, write
"""
# (kind, flash address, bytes) of each operation, as the script above makes them
OPS = [
    ("erase", STATE.offset, None),
    ("write", STATE.offset, b"HEAD" * 4),
    ("write", STATE.offset + 16, bytes(range(64))),
    ("erase", STATE.offset + SECTOR, None),
    ("write", STATE.offset + SECTOR, b"\x5a" * SECTOR),
    ("write", STATE.offset + SECTOR + 100, b"\x00" * 8),
    ("erase", OTADATA.offset + SECTOR, None),
    ("write", OTADATA.offset + SECTOR, od.OtaEntry.make(2, od.NEW).encode()),
]


def model(flash_bytes, cut_at, mode):
    """The flash after the script, cut at operation `cut_at` in `mode` (None: no cut)."""
    mem = bytearray(flash_bytes)
    for i, (kind, addr, data) in enumerate(OPS):
        if i == cut_at and mode == "before":
            break
        size = SECTOR if kind == "erase" else len(data)
        done = size // 2 if i == cut_at and mode == "torn" else size
        if kind == "erase":
            mem[addr:addr + done] = b"\xff" * done
        else:
            for j in range(done):
                mem[addr + j] &= data[j]
        if i == cut_at:
            break
    return mem


def fresh():
    flash = new_flash({"/main.py": MAIN}, slots={0: app("1.0.0"), 1: app("2.0.0")})
    return flash, bytes(flash.mem)


def mark_ops():
    """How many flash operations creating the mark makes (0 where the runtime copies files)."""
    flash, _ = fresh()
    Board(flash, BOARD, runtime=board_runtime()).boot()
    n = 0
    while VFS.offset <= flash.ops[n][2] < VFS.end:
        n += 1
    return n


def regions(mem):
    return (bytes(mem[STATE.offset:STATE.offset + 2 * SECTOR]),
            bytes(mem[OTADATA.offset:OTADATA.offset + 2 * SECTOR]))


def test_the_script_makes_the_modelled_operations():
    flash, before = fresh()
    record = Board(flash, BOARD, runtime=board_runtime()).boot()
    assert record.outcome == "ok", record.output
    skip = mark_ops()
    assert [(op[1], op[2]) for op in flash.ops[skip:]] == [(kind, addr) for kind, addr, _ in OPS]
    assert regions(flash.mem) == regions(model(before, None, None))


@pytest.mark.parametrize("mode", CUT_MODES)
def test_power_cut_at_each_operation(mode):
    skip = mark_ops()
    for cut_at in range(len(OPS)):
        flash, before = fresh()
        flash.cut = CutPlan(skip + cut_at, mode)
        board = Board(flash, BOARD, runtime=board_runtime())
        cut, after = board.run(2)
        where = "%s op %d" % (mode, cut_at)
        assert cut.outcome == "power_cut" and "operation %d" % (skip + cut_at) in cut.error, where
        expected = model(before, cut_at, mode)
        state, otadata_now = regions(expected)
        assert regions(flash.mem)[0] == state, where
        # The next boot starts from power-on, reads what the flash holds, and boots the slot
        # that the surviving otadata selects (ota_1 only if its entry was written whole).
        assert after.reset_cause == 1 and after.outcome == "ok", where
        assert after.output == ["state " + hashlib.sha256(state).hexdigest()], where
        entry = od.read(otadata_now)[1]
        assert after.slot == ("ota_1" if entry.valid else "ota_0"), where
        assert (cut_at, mode) != (len(OPS) - 1, "after") or after.slot == "ota_1"
