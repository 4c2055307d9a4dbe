"""The state log on the emulated board: real MicroPython, esp32.Partition('mpboot'), power cuts.

main.py loads the state, prints what it loaded, and makes three changes; the first of them
compacts (the state was filled on the host to just before that). The same three changes made on
CPython against a copy of the flash must issue exactly the same flash operations, which tells
which change each operation belongs to. Then every operation is cut before, torn and after: the
flash must hold the state before or after the change in flight, the next boot (MicroPython)
must load exactly what the host reader sees, and its own three changes must land.
"""

from pathlib import Path

import pytest

from emuboard import new_flash
from mpboot import boards
from mpboot.emulator.board import Board
from mpboot.emulator.flash import CUT_MODES, CutPlan, NorFlash, PowerCut
from mpboot.emulator.partition import FlashPartition
from mpboot_fw import statelog

BOARD = boards.load_board("esp32-4mb")
STATE = BOARD.partition("mpboot")
FIRMWARE = Path(__file__).resolve().parents[1] / "firmware" / "mpboot_fw"

# The three changes, as one source text that both runtimes run.
CHANGE = """
def change(st, n):
    if n == 0:
        st.next_boot()
    elif n == 1:
        st.log_event('boot', 'n=%d' % st.boot_count)
    else:
        st.raise_floor(st.boot_count)
"""
MAIN = CHANGE + """
import esp32
from mpboot_fw import statelog
st = statelog.load(esp32.Partition('mpboot'))
print('loaded', st.floor, st.boot_count, [e[2] for e in st.events()])
for n in range(3):
    change(st, n)
"""
_names = {}
exec(CHANGE, _names)
change = _names["change"]


def summary(st):
    """What main.py prints (a compaction changes the generation, not the state)."""
    return "loaded %d %d %r" % (st.floor, st.boot_count, [e[2] for e in st.events()])


def state_dev(flash):
    return FlashPartition(flash, STATE.offset, STATE.size)


def prepared():
    """A board whose state log compacts at its next change (next_boot)."""
    files = {"/main.py": MAIN}
    for path in sorted(FIRMWARE.glob("*.py")):
        files["/lib/mpboot_fw/" + path.name] = path.read_bytes()
    flash = new_flash(files)
    statelog.format_partition(state_dev(flash), b"r" * 300, root_version=1).log_event("boot", "n=0")
    # Fill with ever smaller records, each time up to the one that would compact.
    for i, fill in enumerate([lambda st, j: st.set_blob("targets", bytes([j & 0xFF]) * 3000, j),
                              lambda st, j: st.set_pending("ota_1", "v" * 32, j, bytes(32)),
                              lambda st, j: st.next_boot()]):
        for j in range(1000):
            image = bytes(flash.mem)
            st = statelog.load(state_dev(flash))
            fill(st, j)
            if st.generation:
                flash.load(0, image)
                break
    flash.reset_log()
    return image


def expected_run(image):
    """Op counts per change and the state summary after each, from CPython."""
    flash = NorFlash(data=image)
    dev = state_dev(flash)
    st = statelog.load(dev)
    states, bounds = [summary(st)], [0]
    for n in range(3):
        change(st, n)
        bounds.append(len(flash.ops))
        states.append(summary(statelog.load(dev)))
    return flash.ops, bounds, states


@pytest.fixture(scope="module")
def board_case():
    image = prepared()
    return image, expected_run(image)


def test_micropython_on_the_board_writes_what_cpython_writes(micropython, board_case):
    image, (ops, bounds, states) = board_case
    flash = NorFlash(data=image)
    record = Board(flash, BOARD, runtime=micropython).boot()
    assert record.outcome == "ok", record.output
    assert record.output == [states[0]]
    state_ops = [op[1:] for op in flash.ops if STATE.offset <= op[2] < STATE.offset + STATE.size]
    assert state_ops == [op[1:] for op in ops]
    assert summary(statelog.load(state_dev(flash))) == states[3]
    assert statelog.load(state_dev(flash)).generation == 1


@pytest.mark.parametrize("mode", CUT_MODES)
def test_power_cut_at_each_operation_on_the_board(micropython, board_case, mode):
    image, (ops, bounds, states) = board_case
    first = _first_state_op(micropython, image)
    for k in range(len(ops)):
        n = max(i for i in range(3) if bounds[i] <= k)  # the change in flight
        flash = NorFlash(data=image)
        flash.cut = CutPlan(first + k, mode)
        board = Board(flash, BOARD, runtime=micropython)
        cut, after = board.run(2)
        where = "%s op %d (change %d)" % (mode, k, n)
        assert cut.outcome == "power_cut", where
        got = after.output[0]
        assert got in (states[n], states[n + 1]), where
        assert got == summary(statelog.load(_after_cut(image, k, mode))), where
        assert after.outcome == "ok", (where, after.output)
        # The second boot made its three changes on top of what it loaded.
        final = statelog.load(state_dev(flash))
        loaded_boots = int(got.split()[2])
        assert final.boot_count == loaded_boots + 1 and final.floor == loaded_boots + 1, where
        assert list(final.events())[-1][2] == "n=%d" % (loaded_boots + 1), where


def _first_state_op(micropython, image):
    """Index of the first flash operation main.py makes (the board may write before it)."""
    flash = NorFlash(data=image)
    Board(flash, BOARD, runtime=micropython).boot()
    return min(op[0] for op in flash.ops if STATE.offset <= op[2] < STATE.offset + STATE.size)


def _after_cut(image, k, mode):
    """The state partition after the same cut made on CPython (a copy of the flash)."""
    flash = NorFlash(data=image)
    dev = state_dev(flash)
    st = statelog.load(dev)
    flash.cut = CutPlan(k, mode)
    with pytest.raises(PowerCut):
        for n in range(3):
            change(st, n)
    flash.cut = None
    return dev
