"""otadata: the two `esp_ota_select_entry_t` copies that tell ESP-IDF's bootloader which OTA slot
to boot, and the rules that read and write them (bootloader_common_loader.c, esp_ota_ops.c).

The partition is two 4 KiB sectors; entry i is the first 32 bytes of sector i:
`ota_seq u32, seq_label[20], ota_state u32, crc u32`, where `crc` is esp_rom_crc32_le(UINT32_MAX)
over the four bytes of `ota_seq` only (zlib's crc32 with 0xFFFFFFFF as the running value).
An entry is *valid* when `ota_seq` is not 0xFFFFFFFF, its state is not INVALID or ABORTED, and the
CRC matches; the valid entry with the larger sequence number is the active one, and it selects
OTA slot `(ota_seq - 1) % number_of_ota_slots`.
"""

import binascii
import struct
from typing import NamedTuple

SECTOR = 0x1000
ENTRY = struct.Struct("<I20sII")
SEQ_ERASED = 0xFFFFFFFF

NEW = 0
PENDING_VERIFY = 1
VALID = 2
INVALID = 3
ABORTED = 4
UNDEFINED = 0xFFFFFFFF
STATE_NAMES = {NEW: "NEW", PENDING_VERIFY: "PENDING_VERIFY", VALID: "VALID", INVALID: "INVALID",
               ABORTED: "ABORTED", UNDEFINED: "UNDEFINED"}


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
    return (entry.seq - 1) % slot_count


def boot_slot_entry(entries, slot, slot_count, state=NEW):
    """esp_rewrite_ota_data: (sector index, entry) that makes OTA slot `slot` the boot choice.

    The new sequence number is the smallest `(slot + 1) % slot_count + i * slot_count` that is
    not below the active one; it goes into the sector that does not hold the active entry (sector
    0 when none is active), keeping that sector's label bytes. With rollback enabled (MicroPython
    enables it) the new entry's state is NEW.
    """
    active = select(entries)
    if active == -1:
        target = 0
        seq = slot + 1
    else:
        current = entries[active].seq
        base = (slot + 1) % slot_count
        i = 0
        while current > base + i * slot_count:
            i += 1
        seq = base + i * slot_count
        target = 1 - active
    return target, OtaEntry.make(seq, state, entries[target].label)


def initial_image(slot=0):
    """otadata bytes selecting `slot` exactly as ESP-IDF's bootloader leaves them after booting it
    from erased otadata (set_actual_ota_seq: FF-filled entry, seq slot+1, VALID, in sector 0)."""
    data = bytearray(b"\xff" * (2 * SECTOR))
    data[:ENTRY.size] = OtaEntry.make(slot + 1, VALID).encode()
    return bytes(data)
