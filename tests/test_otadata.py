"""otadata format and the rules that write it (ESP-IDF esp_ota_ops.c / bootloader_common_loader.c)."""

import math
import struct
import sys
from ctypes import c_uint32

import pytest

from mpboot.espidf import otadata as od


@pytest.mark.parametrize("seq,crc", [(1, 0x4743989A), (2, 0x55F63774)])
def test_crc_check_values(seq, crc):
    assert od.seq_crc(seq) == crc


def test_entry_layout_by_hand():
    raw = od.OtaEntry.make(2, od.PENDING_VERIFY).encode()
    assert raw == (b"\x02\x00\x00\x00" + b"\xff" * 20 + b"\x01\x00\x00\x00" + bytes.fromhex("7437f655"))
    assert od.OtaEntry.decode(raw) == od.OtaEntry(2, b"\xff" * 20, od.PENDING_VERIFY, 0x55F63774)


def test_initial_image_is_what_the_bootloader_writes_on_first_boot():
    data = od.initial_image(0)
    assert len(data) == 0x2000
    assert data[:32] == struct.pack("<I20sII", 1, b"\xff" * 20, 2, 0x4743989A)
    assert data[32:] == b"\xff" * (0x2000 - 32)
    entries = od.read(data)
    assert entries[0].valid and entries[1].seq == od.SEQ_ERASED and not entries[1].valid
    assert od.select(entries) == 0 and od.slot_of(entries[0], 2) == 0


@pytest.mark.parametrize("state,valid", [
    (od.NEW, True), (od.PENDING_VERIFY, True), (od.VALID, True), (od.UNDEFINED, True),
    (od.INVALID, False), (od.ABORTED, False)])
def test_validity_by_state(state, valid):
    assert od.OtaEntry.make(5, state).valid is valid


def test_bad_crc_or_erased_is_not_valid():
    assert not od.OtaEntry(5, b"\xff" * 20, od.VALID, 0).valid
    erased = od.OtaEntry.decode(b"\xff" * 32)
    assert erased.invalid and erased.initial and erased.describe() == "erased"


@pytest.mark.parametrize("a,b,expected", [
    ((1, od.VALID), (2, od.VALID), 1),
    ((3, od.VALID), (2, od.VALID), 0),
    ((2, od.VALID), (2, od.VALID), 0),          # equal sequence numbers: entry 0
    ((3, od.ABORTED), (2, od.VALID), 1),
    ((3, od.VALID), (4, od.INVALID), 0),
    ((None, None), (7, od.NEW), 1),
    ((None, None), (None, None), -1),
])
def test_select_takes_the_valid_entry_with_the_larger_sequence(a, b, expected):
    def entry(seq, state):
        return od.OtaEntry.decode(b"\xff" * 32) if seq is None else od.OtaEntry.make(seq, state)
    assert od.select([entry(*a), entry(*b)]) == expected


def test_boot_slot_entry_follows_esp_rewrite_ota_data():
    erased = od.read(b"\xff" * 0x2000)
    # No active entry: sequence slot + 1 into sector 0.
    assert od.boot_slot_entry(erased, 1, 2) == (0, od.OtaEntry.make(2, od.NEW))
    entries = [od.OtaEntry.make(1, od.VALID), erased[1]]
    sector, new = od.boot_slot_entry(entries, 1, 2)
    assert (sector, new.seq, new.state) == (1, 2, od.NEW)
    entries[1] = new.with_state(od.VALID)
    sector, new = od.boot_slot_entry(entries, 0, 2)
    assert (sector, new.seq) == (0, 3) and od.slot_of(new, 2) == 0
    # Choosing the slot that already runs reuses its sequence number in the other sector.
    assert od.boot_slot_entry([od.OtaEntry.make(1, od.VALID), erased[1]], 0, 2)[1].seq == 1
    # Sequence numbers only grow, and map back to the slot asked for, for any slot count.
    for count in (2, 3, 16):
        entries = [od.OtaEntry.make(9, od.VALID), erased[1]]
        for slot in (count - 1, 0, 1 % count):
            sector, new = od.boot_slot_entry(entries, slot, count)
            assert new.seq >= entries[od.select(entries)].seq and od.slot_of(new, count) == slot
            entries[sector] = new


def c_loop(seq, base, count):
    """compute_ota_seq_for_target_slot's loop run literally, every sum and product through a C
    uint32_t (ctypes): `while (seq > base + i * count) i++;`. Only for seqs where it stops soon."""
    i = c_uint32(0)
    while seq > c_uint32(base + c_uint32(i.value * count).value).value:
        i = c_uint32(i.value + 1)
    return c_uint32(base + c_uint32(i.value * count).value).value


def loop_stop_near_the_top(seq, base, count):
    """Where that loop stops for a seq near 2^32, without running it: it stops at the first i with
    (base + i * count) mod 2^32 in [seq, 2^32); each such value v is first reached at the least i
    solving i * count = v - base (mod 2^32). None: no v is ever reached, the loop never ends."""
    reached = []
    g = math.gcd(count, UINT32)
    for v in range(seq, UINT32):
        if (v - base) % g == 0:
            m = UINT32 // g
            reached.append(((v - base) // g * pow(count // g, -1, m) % m, v))
    return min(reached)[1] if reached else None


UINT32 = 1 << 32
NEAR_ZERO = range(0, 40)
NEAR_TOP = range(UINT32 - 40, UINT32 - 1)  # 0xFFFFFFFF itself is never an active (valid) entry


@pytest.mark.parametrize("count", range(1, 17))
def test_next_sequence_is_what_esp_idfs_uint32_loop_gives_near_0_and_2_32(count):
    erased = od.OtaEntry.decode(b"\xff" * 32)
    oracles = [(seq, c_loop) for seq in NEAR_ZERO] + [(seq, loop_stop_near_the_top) for seq in NEAR_TOP]
    for seq, oracle in oracles:
        active = od.OtaEntry.make(seq, od.VALID)
        assert active.valid
        for slot in range(count):
            want = oracle(seq, (slot + 1) % count, count)
            if want is None:
                with pytest.raises(od.RewriteNeverReturns):
                    at_most_lines(2000, od.boot_slot_entry, [active, erased], slot, count)
                continue
            sector, new = at_most_lines(2000, od.boot_slot_entry, [active, erased], slot, count)
            assert (sector, new.seq, new.state, new.crc_ok) == (1, want, od.NEW, True), (seq, slot, count)


def test_the_wrapped_cases_that_matter():
    erased = od.OtaEntry.decode(b"\xff" * 32)
    top = od.OtaEntry.make(0xFFFFFFFE, od.VALID)
    # Two slots: ota_0 is asked for, the next sequence is 0xFFFFFFFF, which reads as erased: the
    # bootloader keeps booting ota_1.
    sector, new = at_most_lines(2000, od.boot_slot_entry, [top, erased], 0, 2)
    assert new.seq == od.SEQ_ERASED and new.invalid and od.select([top, new]) == 0
    # Four slots: ESP-IDF's loop never finds a value for ota_3 and never ends.
    with pytest.raises(od.RewriteNeverReturns, match="never ends"):
        at_most_lines(2000, od.boot_slot_entry, [top, erased], 3, 4)


@pytest.mark.parametrize("count", range(1, 17))
def test_slot_of_subtracts_in_uint32(count):
    for seq in list(NEAR_ZERO) + list(NEAR_TOP):
        want = c_uint32(seq - 1).value % count
        assert od.slot_of(od.OtaEntry.make(seq, od.VALID), count) == want, (seq, count)
    assert od.slot_of(od.OtaEntry.make(0, od.VALID), 3) == 0  # 0xFFFFFFFF % 3, not Python's (0 - 1) % 3 == 2


def at_most_lines(limit, fn, *args):
    """fn(*args), failing once it has run `limit` lines of otadata.py: a bound on the work, in
    steps rather than seconds (the old code stepped through up to 2^32 sequence numbers)."""
    lines = [0]

    def trace(frame, event, _):
        if frame.f_code.co_filename == od.__file__:
            if event == "line":
                lines[0] += 1
                if lines[0] > limit:
                    raise AssertionError("more than %d lines of otadata.py (slot, count = %r)" % (limit, args[1:]))
            return trace
        return None

    old = sys.gettrace()
    sys.settrace(trace)
    try:
        return fn(*args)
    finally:
        sys.settrace(old)
