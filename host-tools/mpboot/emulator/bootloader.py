"""ESP-IDF's second-stage bootloader, as far as it decides what boots (bootloader_utility.c).

With CONFIG_BOOTLOADER_APP_ROLLBACK_ENABLE (MicroPython's setting) and no anti-rollback:

1. Read the partition table at 0x8000 (bootloader_utility_load_partition_table): a table that
   fails esp_partition_table_verify (MD5, structure, an entry past the end of the flash; see
   espidf/partition_table.py) stops the boot, and so does an otadata partition smaller than two
   sectors (read_otadata). Where an entry kind repeats, the last one counts (factory, test,
   otadata, each OTA slot number), and every OTA entry counts towards the number of slots.
2. bootloader_utility_get_selected_boot_partition:
   - every otadata entry still PENDING_VERIFY becomes ABORTED (its sector rewritten): the app
     booted last time never confirmed itself;
   - both entries invalid (erased, INVALID or ABORTED) or no OTA slots: the factory app, else
     OTA slot 0 (when both entries are erased or CRC-broken, remember to record the slot);
   - otherwise the valid entry with the larger ota_seq selects slot (ota_seq - 1) % slots, and
     if its state is NEW it becomes PENDING_VERIFY (rewritten) before the app runs;
   - no valid entry at all: start from the factory index and try everything.
3. bootloader_utility_load_boot_image: validate the chosen image (esp_image_format checks); if
   it fails, try the slots below it down to factory, then the slots above it, then the test
   app. When otadata was in its initial state, the slot that boots is written to otadata[0]
   (seq slot+1, VALID). Nothing bootable: the chip resets forever (here: the boot stops).

Every decision is appended to `log`. otadata writes go through the flash, so a power cut can
land in the bootloader too.
"""

from typing import NamedTuple

from mpboot.emulator.ota import OtaData, image_ok
from mpboot.espidf import otadata as od
from mpboot.espidf import partition_table as pt

FACTORY_INDEX = -1
TEST_APP_INDEX = -2


class BootChoice(NamedTuple):
    partition: object  # pt.Partition that boots, or None
    image: object  # its appimage.AppImage
    partitions: tuple  # the partition table the bootloader read
    outcome: str  # "app", "no_app", "bad_partition_table"


def run(flash, chip_id, log):
    try:
        raw = flash.read(pt.TABLE_OFFSET, pt.TABLE_MAX_LEN)
        partitions = tuple(pt.from_binary(raw, flash.size))
    except pt.PartitionTableError as e:
        log.append("partition table at 0x8000 rejected: %s" % e)
        return BootChoice(None, None, (), "bad_partition_table")
    table = _Table(partitions)
    if table.otadata and table.otadata.size < 2 * od.SECTOR:
        log.append("otadata partition is 0x%x bytes, less than two sectors: the chip resets and tries again, forever"
                   % table.otadata.size)
        return BootChoice(None, None, partitions, "bad_partition_table")
    otadata = _BootOtaData(flash, table.otadata) if table.otadata else None
    start, initial = _select(otadata, table.slot_count, table.factory, log)
    chosen = _load(flash, chip_id, start, table, log)
    if chosen is None:
        log.append("no bootable app partition: the chip resets and tries again, forever")
        return BootChoice(None, None, partitions, "no_app")
    index, partition, image = chosen
    if initial and index > FACTORY_INDEX:
        # set_actual_ota_seq
        otadata.write(0, od.OtaEntry.make(index + 1, od.VALID))
        log.append("otadata was in its initial state: otadata[0] <- seq=%d VALID" % (index + 1))
    log.append("booting %s (offset 0x%x): %s %s, secure_version %d"
               % (partition.name, partition.offset, image.project_name or "app", image.version or "?",
                  image.secure_version))
    return BootChoice(partition, image, partitions, "app")


class _Table:
    """bootloader_state_t as bootloader_utility_load_partition_table fills it in: each entry
    overwrites the one of its kind before it; app_count counts every OTA entry."""

    def __init__(self, partitions):
        self.factory = self.test = self.otadata = None
        self.slots = {}
        self.slot_count = 0
        for p in partitions:
            if p.ota_index is not None:
                self.slots[p.ota_index] = p
                self.slot_count += 1
            elif p.type == pt.TYPE_APP and p.subtype == pt.SUBTYPE_FACTORY:
                self.factory = p
            elif p.type == pt.TYPE_APP and p.subtype == pt.SUBTYPE_TEST:
                self.test = p
            elif p.type == pt.TYPE_DATA and p.subtype == pt.SUBTYPE_OTADATA:
                self.otadata = p


class _BootOtaData(OtaData):
    def write(self, index, entry):
        """write_otadata: bootloader_flash_erase_sector(offset / 4096) erases the sector the entry
        starts in, also when the partition is not sector aligned, then the entry is programmed."""
        addr = self.partition.offset + index * od.SECTOR
        self.flash.erase(addr - addr % od.SECTOR, od.SECTOR)
        self.flash.write(addr, entry.encode())


def _select(otadata, count, factory, log):
    """bootloader_utility_get_selected_boot_partition: (start index, otadata initial?)."""
    if otadata is None:
        log.append("no otadata partition: factory app")
        return FACTORY_INDEX, False
    entries = otadata.read()
    log.append("otadata[0] %s; otadata[1] %s" % (entries[0].describe(), entries[1].describe()))
    for i in (0, 1):
        if entries[i].state == od.PENDING_VERIFY:
            entries[i] = entries[i].with_state(od.ABORTED)
            otadata.write(i, entries[i])
            log.append("otadata[%d] was still PENDING_VERIFY: marked ABORTED (rollback)" % i)
    if (entries[0].invalid and entries[1].invalid) or count == 0:
        if factory:
            log.append("no usable otadata entry: factory app")
            return FACTORY_INDEX, False
        log.append("no usable otadata entry and no factory app: trying ota_0")
        return 0, entries[0].initial and entries[1].initial
    active = od.select(entries)
    if active == -1:
        log.append("otadata invalid: trying every app partition")
        return FACTORY_INDEX, False
    index = od.slot_of(entries[active], count)
    log.append("otadata[%d] is active: seq=%d -> ota_%d" % (active, entries[active].seq, index))
    if entries[active].state == od.NEW:
        otadata.write(active, entries[active].with_state(od.PENDING_VERIFY))
        log.append("otadata[%d] NEW -> PENDING_VERIFY (first boot of this image)" % active)
    return index, False


def _load(flash, chip_id, start, table, log):
    """bootloader_utility_load_boot_image: (index, partition, image) of the first that loads."""
    count = table.slot_count

    def partition_at(index):
        if index == FACTORY_INDEX:
            return table.factory
        # index_to_partition: a slot number below app_count with no entry of its own is empty.
        return table.slots.get(index) if 0 <= index < count else None

    order = list(range(start, FACTORY_INDEX - 1, -1)) + list(range(start + 1, count))
    for index in order:
        partition = partition_at(index)
        if partition is None:
            continue
        image = image_ok(flash, partition, chip_id)
        if not isinstance(image, Exception):
            return index, partition, image
        log.append("%s is not bootable: image %s check failed" % (partition.name, image))
    if table.test:
        image = image_ok(flash, table.test, chip_id)
        if not isinstance(image, Exception):
            log.append("falling back to the test app as the only bootable partition")
            return TEST_APP_INDEX, table.test, image
    return None
