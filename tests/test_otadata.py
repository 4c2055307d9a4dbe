"""otadata format and the rules that write it (ESP-IDF esp_ota_ops.c / bootloader_common_loader.c)."""

import struct

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
