"""A real MicroPython ESP32 firmware download, as a test fixture: mpboot.fixtures (shared with
`make demo`), under the names the tests import."""

from mpboot.fixtures import APP_OFFSET, FLASH_BASE, PARTITION_TABLE_OFFSET, micropython_app, micropython_firmware  # noqa: F401
