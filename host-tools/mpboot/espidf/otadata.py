"""otadata: the two `esp_ota_select_entry_t` copies that tell ESP-IDF's bootloader which OTA slot
to boot, and the rules that read and write them (bootloader_common_loader.c, esp_ota_ops.c).

The partition is two 4 KiB sectors; entry i is the first 32 bytes of sector i:
`ota_seq u32, seq_label[20], ota_state u32, crc u32`, where `crc` is esp_rom_crc32_le(UINT32_MAX)
over the four bytes of `ota_seq` only (zlib's crc32 with 0xFFFFFFFF as the running value).
An entry is *valid* when `ota_seq` is not 0xFFFFFFFF, its state is not INVALID or ABORTED, and the
CRC matches; the valid entry with the larger sequence number is the active one, and it selects
OTA slot `(ota_seq - 1) % number_of_ota_slots`.

ESP-IDF does this arithmetic in uint32_t, so it wraps: sequence 0 selects slot
`0xFFFFFFFF % slots`, and the next sequence number after one near 2^32 can be 0xFFFFFFFF (an
erased entry: the switch silently does not happen), be found only after ESP-IDF's counter has
wrapped round, or never be found (ESP-IDF loops forever). The functions here compute what that C
arithmetic gives without stepping through sequence numbers.
"""

import binascii
import struct
from typing import NamedTuple

SECTOR = 0x1000
ENTRY = struct.Struct("<I20sII")
SEQ_ERASED = 0xFFFFFFFF
UINT32 = 1 << 32

NEW = 0
PENDING_VERIFY = 1
VALID = 2
INVALID = 3
ABORTED = 4
UNDEFINED = 0xFFFFFFFF
STATE_NAMES = {NEW: "NEW", PENDING_VERIFY: "PENDING_VERIFY", VALID: "VALID", INVALID: "INVALID",
               ABORTED: "ABORTED", UNDEFINED: "UNDEFINED"}


class RewriteNeverReturns(Exception):
    """esp_rewrite_ota_data would loop forever: no uint32 value `base + i * slots` is at or above
    the active sequence number (possible only with 4, 8 or 16 slots, whose multiples of 2^32 bring
    the wrapped counter back to the same values), so the device hangs in esp_ota_set_boot_partition."""


def seq_crc(seq):
    """bootloader_common_ota_select_crc: esp_rom_crc32_le(UINT32_MAX, &ota_seq, 4)."""
    return binascii.crc32(struct.pack("<I", seq), 0xFFFFFFFF)


class OtaEntry(NamedTuple):
    seq: int
    label: bytes
    state: int
    crc: int

    @classmethod
    def make(cls, seq, state, label=b"\xff" * 20):
        return cls(seq, label, state, seq_crc(seq))

    @classmethod
    def decode(cls, raw):
        return cls(*ENTRY.unpack(bytes(raw[:ENTRY.size])))

    def encode(self):
        return ENTRY.pack(self.seq, self.label, self.state, self.crc)

    @property
    def crc_ok(self):
        return self.crc == seq_crc(self.seq)

    @property
    def invalid(self):
        """bootloader_common_ota_select_invalid: erased, INVALID or ABORTED (CRC not consulted)."""
        return self.seq == SEQ_ERASED or self.state in (INVALID, ABORTED)

    @property
    def valid(self):
        """bootloader_common_ota_select_valid."""
        return not self.invalid and self.crc_ok

    @property
    def initial(self):
        """Erased or CRC-broken: what the bootloader treats as 'otadata in initial state'."""
        return self.seq == SEQ_ERASED or not self.crc_ok

    def with_state(self, state):
        return self._replace(state=state)

    def describe(self):
        if self.seq == SEQ_ERASED:
            return "erased"
        return "seq=%d state=%s%s" % (self.seq, STATE_NAMES.get(self.state, "0x%x" % self.state),
                                      "" if self.crc_ok else " crc=BAD")


def read(data):
    """The two entries from the otadata partition's bytes (at least 0x1020 long)."""
    return [OtaEntry.decode(data[0:ENTRY.size]), OtaEntry.decode(data[SECTOR:SECTOR + ENTRY.size])]


def select(entries, valid=None):
    """bootloader_common_select_otadata (max): index of the active entry, or -1."""
    if valid is None:
        valid = [e.valid for e in entries]
    if valid[0] and valid[1]:
        return 0 if max(entries[0].seq, entries[1].seq) == entries[0].seq else 1
    for i in (0, 1):
        if valid[i]:
            return i
    return -1


def slot_of(entry, slot_count):
    """`(ota_seq - 1) % slots` as the bootloader computes it: the subtraction in uint32_t."""
    return ((entry.seq - 1) % UINT32) % slot_count


def next_seq(current, slot, slot_count):
    """compute_ota_seq_for_target_slot: with `base = (slot + 1) % slot_count`, the first value of
    `base + i * slot_count` for i = 0, 1, ... that is not below `current`, where i, the product and
    the sum are uint32_t. Raises RewriteNeverReturns when the C loop never ends.

    The C loop steps through up to 2^32 values; this goes lap by lap instead. A lap is the run of
    values from `start` (below slot_count) up to 2^32 - 1, where the sum wraps and the next lap
    starts again below slot_count. After slot_count laps i itself has wrapped and the laps repeat.
    """
    start = (slot + 1) % slot_count
    for _ in range(slot_count):
        if start >= current:
            return start
        value = current + (start - current) % slot_count  # the lap's first value >= current
        if value < UINT32:
            return value
        steps = (UINT32 - start + slot_count - 1) // slot_count  # from start to the first sum >= 2^32
        start += steps * slot_count - UINT32
    raise RewriteNeverReturns("esp_rewrite_ota_data: no sequence number from 0x%x selects ota_%d of %d: "
                              "ESP-IDF's loop never ends" % (current, slot, slot_count))


def boot_slot_entry(entries, slot, slot_count, state=NEW):
    """esp_rewrite_ota_data: (sector index, entry) that makes OTA slot `slot` the boot choice.

    The new sequence number is next_seq from the active one (it can wrap, see next_seq); it goes
    into the sector that does not hold the active entry (sector 0 when none is active), keeping
    that sector's label bytes. With rollback enabled (MicroPython enables it) the new entry's
    state is NEW.
    """
    active = select(entries)
    if active == -1:
        target = 0
        seq = slot + 1
    else:
        seq = next_seq(entries[active].seq, slot, slot_count)
        target = 1 - active
    return target, OtaEntry.make(seq, state, entries[target].label)


def initial_image(slot=0):
    """otadata bytes selecting `slot` exactly as ESP-IDF's bootloader leaves them after booting it
    from erased otadata (set_actual_ota_seq: FF-filled entry, seq slot+1, VALID, in sector 0)."""
    data = bytearray(b"\xff" * (2 * SECTOR))
    data[:ENTRY.size] = OtaEntry.make(slot + 1, VALID).encode()
    return bytes(data)
