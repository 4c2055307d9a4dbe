"""The app slots and the state partition, through MicroPython's `esp32.Partition`.

The only module of the boot stage that talks to ESP-IDF's OTA API (esp_ota_ops via
esp32_partition.c). `esp32` is imported on first use, so the rest of the package still imports
on CPython.

MicroPython exposes no call that reads an otadata entry's state (NEW, PENDING_VERIFY, VALID...),
so the boot stage keeps its own record of a pending install (statelog) and uses this module only
to act: confirm the running image, point the bootloader at a slot.
"""


def _partition():
    from esp32 import Partition

    return Partition


def running():
    """The partition the running app was booted from."""
    P = _partition()
    return P(P.RUNNING)


def boot():
    """The partition otadata selects for the next boot (esp_ota_get_boot_partition)."""
    P = _partition()
    return P(P.BOOT)


def other(part):
    """The OTA slot after `part` (with two slots: the other one), where an install goes."""
    return part.get_next_update()


def label(part):
    return part.info()[4]


def state_partition(name):
    """The data partition labelled `name` that holds the state log."""
    P = _partition()
    found = P.find(P.TYPE_DATA, label=name)
    if not found:
        raise OSError(2, "no partition " + name)
    return found[0]


def confirm():
    """Mark the active otadata entry VALID: the bootloader will not roll it back any more.
    ESP-IDF marks the entry with the highest sequence number, which is the running slot's
    whenever `boot()` is `running()`; it writes nothing if the entry is VALID already."""
    _partition().mark_app_valid_cancel_rollback()


def set_boot(part):
    """Select `part` for the next boot (ESP-IDF checks its app image first: OSError if unbootable)."""
    part.set_boot()
