"""ESP-IDF's app-side OTA API (components/app_update/esp_ota_ops.c) over the emulated flash.

What MicroPython's `esp32.Partition` calls on a board: `esp_ota_get_boot_partition`,
`esp_ota_get_running_partition`, `esp_ota_set_boot_partition` (which validates the image first),
`esp_ota_get_next_update_partition` and `esp_ota_mark_app_valid_cancel_rollback`, with app
rollback enabled as in MicroPython's sdkconfig. otadata writes are flash operations (erase the
entry's sector, program 32 bytes), so they can be cut like any other.
"""

from mpboot.emulator.partition import (ESP_ERR_INVALID_ARG, ESP_ERR_NOT_FOUND, ESP_ERR_OTA_VALIDATE_FAILED, ESP_FAIL,
                                       FlashPartition, esp_error)
from mpboot.espidf import otadata as od
from mpboot.espidf import partition_table as pt
from mpboot_fw import appimage


class OtaData:
    """The otadata partition: two entries, one per 4 KiB sector."""

    def __init__(self, flash, partition):
        self.flash = flash
        self.partition = partition

    def read(self):
        base = self.partition.offset
        return [od.OtaEntry.decode(self.flash.read(base + i * od.SECTOR, od.ENTRY.size)) for i in (0, 1)]

    def write(self, index, entry):
        """write_otadata / rewrite_ota_seq: erase the entry's sector, then program the entry."""
        addr = self.partition.offset + index * od.SECTOR
        self.flash.erase(addr, od.SECTOR)
        self.flash.write(addr, entry.encode())


def otadata_partition(partitions):
    for p in partitions:
        if p.type == pt.TYPE_DATA and p.subtype == pt.SUBTYPE_OTADATA:
            return p
    return None


def ota_slots(partitions):
    """OTA app partitions by slot number, as the bootloader indexes them (subtype & 0xF)."""
    return {p.ota_index: p for p in partitions if p.ota_index is not None}


def image_ok(flash, partition, chip_id):
    """esp_image_verify(ESP_IMAGE_VERIFY, partition): the AppImage, or the AppImageError."""
    try:
        return appimage.validate(FlashPartition(flash, partition.offset, partition.size), partition.size, chip_id)
    except appimage.AppImageError as e:
        return e


class OtaOps:
    def __init__(self, flash, partitions, chip_id, running):
        self.flash = flash
        self.partitions = list(partitions)
        self.chip_id = chip_id
        self.running = running
        self.slots = ota_slots(self.partitions)
        part = otadata_partition(self.partitions)
        self.otadata = OtaData(flash, part) if part else None

    def _read_otadata(self):
        if self.otadata is None:
            raise esp_error(ESP_ERR_NOT_FOUND)
        return self.otadata.read()

    def _first(self, ptype, subtype):
        for p in self.partitions:
            if p.type == ptype and p.subtype == subtype:
                return p
        return None

    def _default_boot_partition(self):
        # find_default_boot_partition: factory, else the lowest OTA slot, else test.
        factory = self._first(pt.TYPE_APP, pt.SUBTYPE_FACTORY)
        if factory:
            return factory
        for subtype in range(pt.SUBTYPE_OTA_0, pt.SUBTYPE_OTA_0 + pt.OTA_SLOTS_MAX):
            p = self._first(pt.TYPE_APP, subtype)
            if p:
                return p
        return self._first(pt.TYPE_APP, pt.SUBTYPE_TEST)

    def boot_partition(self):
        """esp_ota_get_boot_partition."""
        if self.otadata is None:
            return None
        entries = self.otadata.read()
        count = len(self.slots)
        if (entries[0].invalid and entries[1].invalid) or count == 0:
            return self._default_boot_partition()
        active = od.select(entries)
        if active == -1:
            return self._default_boot_partition()
        return self._first(pt.TYPE_APP, pt.SUBTYPE_OTA_0 + od.slot_of(entries[active], count))

    def next_update_partition(self, start_from=None):
        """esp_ota_get_next_update_partition: the OTA slot after start_from (else the first)."""
        start_from = start_from or self.running
        ordered = [self.slots[i] for i in sorted(self.slots)]
        for i, p in enumerate(ordered):
            if p == start_from and i + 1 < len(ordered):
                return ordered[i + 1]
        return ordered[0] if ordered else None

    def set_boot_partition(self, partition):
        """esp_ota_set_boot_partition: validate the image, then write the next otadata entry."""
        if isinstance(image_ok(self.flash, partition, self.chip_id), Exception):
            raise esp_error(ESP_ERR_OTA_VALIDATE_FAILED)
        if partition.type != pt.TYPE_APP:
            raise esp_error(ESP_ERR_INVALID_ARG)
        if partition.subtype == pt.SUBTYPE_FACTORY:
            if self.otadata is None:
                raise esp_error(ESP_ERR_NOT_FOUND)
            self.flash.erase(self.otadata.partition.offset, self.otadata.partition.size)
            return
        entries = self._read_otadata()
        slot = partition.subtype & 0x0F
        if slot >= len(self.slots):
            raise esp_error(ESP_ERR_INVALID_ARG)
        sector, entry = od.boot_slot_entry(entries, slot, len(self.slots), od.NEW)
        self.otadata.write(sector, entry)

    def mark_app_valid_cancel_rollback(self):
        """esp_ota_current_ota_is_workable(true): the *active* entry becomes VALID, and only when
        it selects the running partition (ESP-IDF 5: "Running firmware (slot %d) and active
        firmware (slot %d) are different", ESP_FAIL): an app can never confirm another slot."""
        entries = self._read_otadata()
        active = od.select(entries)
        if active == -1 or not self.slots:
            raise esp_error(ESP_FAIL)  # "Running firmware is factory"
        if self.slots.get(od.slot_of(entries[active], len(self.slots))) != self.running:
            raise esp_error(ESP_FAIL)
        if entries[active].state != od.VALID:
            self.otadata.write(active, entries[active].with_state(od.VALID))
