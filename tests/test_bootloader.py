"""The emulated second-stage bootloader against ESP-IDF's rules.

`reference()` is a line-by-line transliteration of bootloader_utility.c
(bootloader_utility_get_selected_boot_partition with CONFIG_BOOTLOADER_APP_ROLLBACK_ENABLE and
without anti-rollback, then bootloader_utility_load_boot_image and set_actual_ota_seq) working
on raw 32-byte otadata entries. The emulator must choose the same slot and leave the same
otadata bytes for every combination of the two entries' sequence numbers, states and CRCs, with
each combination of good and bad images, with and without a factory partition, and with three
slots for sequence numbers near 0 and 2^32 (where the C code's uint32_t arithmetic wraps).
"""

import struct
import zlib

import pytest

import appbuilder
from mpboot.emulator import bootloader
from mpboot.emulator.flash import NorFlash, PowerCut, CutPlan
from mpboot.espidf import partition_table as pt

UINT32_MAX = 0xFFFFFFFF
NEW, PENDING_VERIFY, VALID, INVALID, ABORTED, UNDEFINED = 0, 1, 2, 3, 4, 0xFFFFFFFF
OTADATA = 0xD000
SECTOR = 0x1000

LAYOUTS = {
    "ota": [pt.Partition("otadata", 1, 0, OTADATA, 0x2000),
            pt.Partition("ota_0", 0, 0x10, 0x10000, 0x10000), pt.Partition("ota_1", 0, 0x11, 0x20000, 0x10000)],
    "factory+ota": [pt.Partition("otadata", 1, 0, OTADATA, 0x2000), pt.Partition("factory", 0, 0, 0x10000, 0x10000),
                    pt.Partition("ota_0", 0, 0x10, 0x20000, 0x10000), pt.Partition("ota_1", 0, 0x11, 0x30000, 0x10000)],
    # Three slots: 2^32 is not a multiple of 3, so uint32 wrapping changes which slot a sequence picks.
    "ota3": [pt.Partition("otadata", 1, 0, OTADATA, 0x2000), pt.Partition("ota_0", 0, 0x10, 0x10000, 0x10000),
             pt.Partition("ota_1", 0, 0x11, 0x20000, 0x10000), pt.Partition("ota_2", 0, 0x12, 0x30000, 0x10000)],
}
GOOD_APP = appbuilder.build(version="good")


def rom_crc(seq):
    return zlib.crc32(struct.pack("<I", seq), UINT32_MAX) & UINT32_MAX


def entry(seq, state, crc=None):
    return struct.pack("<I20sII", seq, b"\xff" * 20, state, rom_crc(seq) if crc is None else crc)


ERASED = b"\xff" * 32


def reference(raw, bootable, has_factory, app_count=2):
    """(booted index or None, {sector: new entry bytes}); index -1 is the factory app."""
    ota = [list(struct.unpack("<I20sII", r)) for r in raw]  # seq, label, state, crc
    writes = {}

    def write_otadata(i):
        writes[i] = struct.pack("<I20sII", *ota[i])

    def select_invalid(s):
        return s[0] == UINT32_MAX or s[2] == INVALID or s[2] == ABORTED

    def select_valid(s):
        return not select_invalid(s) and s[3] == rom_crc(s[0])

    ota_has_initial_contents = False
    for i in range(2):
        if ota[i][2] == PENDING_VERIFY:
            ota[i][2] = ABORTED
            write_otadata(i)
    if (select_invalid(ota[0]) and select_invalid(ota[1])) or app_count == 0:
        if has_factory:
            boot_index = -1
        else:
            boot_index = 0
            if ((ota[0][0] == UINT32_MAX or ota[0][3] != rom_crc(ota[0][0]))
                    and (ota[1][0] == UINT32_MAX or ota[1][3] != rom_crc(ota[1][0]))):
                ota_has_initial_contents = True
    else:
        valid = [select_valid(ota[0]), select_valid(ota[1])]
        if valid[0] and valid[1]:
            active = 0 if max(ota[0][0], ota[1][0]) == ota[0][0] else 1
        elif valid[0]:
            active = 0
        elif valid[1]:
            active = 1
        else:
            active = -1
        if active != -1:
            ota_seq = (ota[active][0] - 1) & UINT32_MAX  # uint32_t ota_seq = otadata[active].ota_seq - 1
            boot_index = ota_seq % app_count
            if ota[active][2] == NEW:
                ota[active][2] = PENDING_VERIFY
                write_otadata(active)
        else:
            boot_index = -1

    def exists(index):
        return (index == -1 and has_factory) or 0 <= index < app_count

    def try_load(index):
        if exists(index) and bootable[index]:
            if index > -1 and ota_has_initial_contents:
                writes[0] = struct.pack("<I20sII", index + 1, b"\xff" * 20, VALID, rom_crc(index + 1))
            return True
        return False

    for index in range(boot_index, -2, -1):
        if try_load(index):
            return index, writes
    for index in range(boot_index + 1, app_count):
        if try_load(index):
            return index, writes
    return None, writes


def entry_choices(seqs=(1, 2, 3), states=(NEW, PENDING_VERIFY, VALID, INVALID, ABORTED, UNDEFINED)):
    choices = [ERASED]
    for seq in seqs:
        for state in states:
            choices.append(entry(seq, state))
        choices.append(entry(seq, VALID, crc=0x12345678))
    return choices


def make_flash(layout, raw, bootable):
    partitions = LAYOUTS[layout]
    flash = NorFlash(size=0x40000)
    flash.load(pt.TABLE_OFFSET, pt.to_binary(partitions))
    flash.load(OTADATA, raw[0])
    flash.load(OTADATA + SECTOR, raw[1])
    apps = [p for p in partitions if p.type == pt.TYPE_APP]
    index_of = {p.name: (-1 if p.subtype == 0 else p.subtype - 0x10) for p in apps}
    for p in apps:
        flash.load(p.offset, GOOD_APP if bootable[index_of[p.name]] else b"\xe9" + GOOD_APP[1:100])
    return flash, {i: p for p in apps for i in [index_of[p.name]]}


@pytest.mark.parametrize("layout", ["ota", "factory+ota"])
@pytest.mark.parametrize("bootable", [(True, True, True), (False, True, True), (True, False, True), (False, False, True),
                                      (False, False, False)], ids=["both", "ota1-only", "ota0-only", "factory-only", "none"])
def test_every_otadata_combination_matches_esp_idf(layout, bootable):
    ok = {0: bootable[0], 1: bootable[1], -1: bootable[2]}
    mismatches = compare_with_reference(layout, ok, entry_choices())
    assert not mismatches, mismatches[:3]


@pytest.mark.parametrize("bootable", [(True, True, True), (False, True, True), (True, False, False)],
                         ids=["all", "ota0-bad", "ota0-only"])
def test_sequences_near_0_and_2_32_match_esp_idf_with_three_slots(bootable):
    ok = {0: bootable[0], 1: bootable[1], 2: bootable[2], -1: False}
    choices = entry_choices(seqs=(0, 1, 0xFFFFFFFE), states=(NEW, VALID, ABORTED))
    mismatches = compare_with_reference("ota3", ok, choices)
    assert not mismatches, mismatches[:3]


def compare_with_reference(layout, ok, choices):
    """Every pair of entries from `choices` on the emulated bootloader and on reference()."""
    slot_count = sum(1 for p in LAYOUTS[layout] if p.ota_index is not None)
    has_factory = any(p.type == pt.TYPE_APP and p.subtype == pt.SUBTYPE_FACTORY for p in LAYOUTS[layout])
    mismatches = []
    for a in choices:
        for b in choices:
            flash, slots = make_flash(layout, (a, b), ok)
            log = []
            choice = bootloader.run(flash, 0, log)
            want_index, writes = reference((a, b), ok, has_factory, slot_count)
            got = choice.partition.name if choice.partition else None
            want = slots[want_index].name if want_index is not None else None
            sectors = [flash.read(OTADATA + i * SECTOR, SECTOR) for i in (0, 1)]
            want_sectors = [(writes[i] + b"\xff" * (SECTOR - 32)) if i in writes else (a, b)[i] + b"\xff" * (SECTOR - 32)
                            for i in (0, 1)]
            if got != want or sectors != want_sectors:
                mismatches.append((a.hex(), b.hex(), got, want, log))
    return mismatches


def run_scenario(raw, bootable=(True, True)):
    flash, _ = make_flash("ota", raw, {0: bootable[0], 1: bootable[1], -1: False})
    log = []
    choice = bootloader.run(flash, 0, log)
    states = [struct.unpack_from("<I20sII", flash.read(OTADATA + i * SECTOR, 32)) for i in (0, 1)]
    return choice, [(s[0], s[2]) for s in states], log


def test_erased_otadata_boots_ota_0_and_records_it():
    choice, states, log = run_scenario((ERASED, ERASED))
    assert choice.partition.name == "ota_0"
    assert states == [(1, VALID), (UINT32_MAX, UINT32_MAX)]
    assert any("initial state" in line for line in log)


def test_new_image_goes_pending_then_rolls_back_if_not_confirmed():
    choice, states, _ = run_scenario((entry(1, VALID), entry(2, NEW)))
    assert choice.partition.name == "ota_1" and states[1] == (2, PENDING_VERIFY)
    # Booted again without mark_app_valid_cancel_rollback(): aborted, back to ota_0.
    flash, _ = make_flash("ota", (entry(1, VALID), entry(2, PENDING_VERIFY)), {0: True, 1: True, -1: False})
    log = []
    choice = bootloader.run(flash, 0, log)
    assert choice.partition.name == "ota_0"
    assert struct.unpack_from("<I20sII", flash.read(OTADATA + SECTOR, 32))[2] == ABORTED
    assert any("ABORTED" in line for line in log)


def test_bad_image_in_chosen_slot_falls_back():
    choice, _, log = run_scenario((entry(1, VALID), entry(2, VALID)), bootable=(True, False))
    assert choice.partition.name == "ota_0"
    assert any(line.startswith("ota_1 is not bootable: image") for line in log)
    choice, _, _ = run_scenario((entry(1, VALID), entry(2, VALID)), bootable=(False, True))
    assert choice.partition.name == "ota_1"
    choice, _, _ = run_scenario((entry(3, VALID), entry(2, VALID)), bootable=(False, True))
    assert choice.partition.name == "ota_1"  # forward search after the backward one


def test_nothing_bootable():
    choice, _, log = run_scenario((entry(1, VALID), ERASED), bootable=(False, False))
    assert choice.outcome == "no_app" and choice.partition is None


def test_wrong_chip_image_is_not_booted():
    flash, _ = make_flash("ota", (entry(1, VALID), ERASED), {0: True, 1: True, -1: False})
    choice = bootloader.run(flash, 9, [])  # an ESP32-S3 bootloader: esp32 images are refused
    assert choice.outcome == "no_app"


def test_bad_partition_table():
    flash, _ = make_flash("ota", (ERASED, ERASED), {0: True, 1: True, -1: False})
    flash.load(pt.TABLE_OFFSET + 40, bytes([flash.read(pt.TABLE_OFFSET + 40, 1)[0] ^ 1]))
    log = []
    assert bootloader.run(flash, 0, log).outcome == "bad_partition_table"
    assert "MD5" in log[0]


@pytest.mark.parametrize("mode", ["before", "torn", "after"])
def test_power_cut_in_the_bootloaders_otadata_write(mode):
    """NEW -> PENDING_VERIFY is an erase and a write: a cut in either leaves otadata the next boot
    reads as ESP-IDF would: the entry erased (no valid entry for ota_1: ota_0 boots) or done."""
    for at in (0, 1):
        flash, _ = make_flash("ota", (entry(1, VALID), entry(2, NEW)), {0: True, 1: True, -1: False})
        flash.cut = CutPlan(at, mode)
        with pytest.raises(PowerCut):
            bootloader.run(flash, 0, [])
        flash.cut = None
        choice = bootloader.run(flash, 0, [])
        seq, _, state, _ = struct.unpack_from("<I20sII", flash.read(OTADATA + SECTOR, 32))
        if (at, mode) in ((1, "after"),):
            # PENDING_VERIFY was written: the next boot aborts it and rolls back.
            assert choice.partition.name == "ota_0" and state == ABORTED
        elif at == 0 and mode == "before":
            assert choice.partition.name == "ota_1" and state == PENDING_VERIFY
        else:
            assert choice.partition.name == "ota_0"


def boot_table(partitions, otadata=(ERASED, ERASED), bootable=()):
    """bootloader.run on a 0x40000-byte flash with this table; apps named in `bootable` hold a good image."""
    flash = NorFlash(size=0x40000)
    flash.load(pt.TABLE_OFFSET, pt.to_binary(partitions))
    for p in partitions:
        if p.type == pt.TYPE_APP and p.offset < flash.size:
            flash.load(p.offset, GOOD_APP if p.name in bootable else b"\xe9" + GOOD_APP[1:100])
        if p.type == pt.TYPE_DATA and p.subtype == 0 and p.end <= flash.size:
            flash.load(p.offset, otadata[0])
            flash.load(p.offset + SECTOR, otadata[1])
    log = []
    return bootloader.run(flash, 0, log), log


@pytest.mark.parametrize("where", ["otadata", "unused"])
def test_an_entry_past_the_end_of_the_flash_stops_the_boot(where):
    parts = list(LAYOUTS["ota"])
    if where == "otadata":
        index = 0
        parts[0] = parts[0]._replace(offset=0x3F000)  # its second sector would be past the end
    else:
        index = len(parts)
        parts.append(pt.Partition("spare", 1, 0x81, 0x38000, 0x10000))  # never read, refused all the same
    choice, log = boot_table(parts, bootable=("ota_0", "ota_1"))
    assert choice.outcome == "bad_partition_table" and choice.partition is None
    bad = parts[index]
    assert log == ["partition table at 0x8000 rejected: partition %d (%s) at 0x%x size 0x%x exceeds the "
                   "0x40000-byte flash" % (index, bad.name, bad.offset, bad.size)]


def test_an_otadata_partition_of_one_sector_stops_the_boot():
    parts = list(LAYOUTS["ota"])
    parts[0] = parts[0]._replace(size=SECTOR)
    choice, log = boot_table(parts, otadata=(entry(2, VALID), ERASED), bootable=("ota_0", "ota_1"))
    assert choice.outcome == "bad_partition_table" and "less than two sectors" in log[-1]


def test_the_last_entry_of_a_kind_is_the_one_the_bootloader_uses():
    # Two otadata partitions: bootloader_utility_load_partition_table keeps the second.
    second = pt.Partition("otadata2", 1, 0, 0xF000, 0x2000)
    flash = NorFlash(size=0x40000)
    flash.load(pt.TABLE_OFFSET, pt.to_binary(LAYOUTS["ota"][:1] + [second] + LAYOUTS["ota"][1:]))
    flash.load(second.offset, entry(2, VALID))  # selects ota_1; the first otadata stays erased
    for p in LAYOUTS["ota"][1:]:
        flash.load(p.offset, GOOD_APP)
    assert bootloader.run(flash, 0, []).partition.name == "ota_1"
    # Two factory partitions, only the first bootable: the bootloader tries only the second.
    factories = [pt.Partition("factory", 0, 0, 0x10000, 0x10000), pt.Partition("factory2", 0, 0, 0x20000, 0x10000)]
    choice, log = boot_table(factories, bootable=("factory",))
    assert choice.outcome == "no_app"
    assert [line.split(":")[0] for line in log if "bootable" in line] == ["factory2 is not bootable",
                                                                          "no bootable app partition"]

