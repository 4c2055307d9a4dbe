"""esp32.NVS on the emulated board: namespaces of i32 and blob values with ESP-IDF's errors.

The API and its errors follow ports/esp32/esp32_nvs.c over ESP-IDF's nvs_* calls: a missing key
is ESP_ERR_NVS_NOT_FOUND, a key of another type ESP_ERR_NVS_TYPE_MISMATCH, a key or namespace
over 15 characters ESP_ERR_NVS_KEY_TOO_LONG, a get_blob buffer too small for the value
ESP_ERR_NVS_INVALID_LENGTH.

Not ESP-IDF's on-flash format: the values live in the `nvs` partition as JSON behind a marker,
written when the app calls commit() (changes not committed are lost at reset) and outside the
power-cut model. Anything else found in the partition (real NVS pages, erased flash) reads as
empty.
"""

import json

from mpboot.emulator.partition import (ESP_ERR_NVS_INVALID_LENGTH, ESP_ERR_NVS_KEY_TOO_LONG, ESP_ERR_NVS_NOT_ENOUGH_SPACE,
                                       ESP_ERR_NVS_NOT_FOUND, ESP_ERR_NVS_TYPE_MISMATCH, esp_error)

MARKER = b"mpboot-emulator-nvs\n"
NAME_MAX = 15


class Nvs:
    def __init__(self, flash, partition):
        self.flash = flash
        self.partition = partition
        self.values = self._load()

    def _load(self):
        raw = self.flash.read(self.partition.offset, self.partition.size)
        if not raw.startswith(MARKER):
            return {}
        body = raw[len(MARKER):raw.index(b"\x00", len(MARKER))]
        return {ns: {k: tuple(v) for k, v in keys.items()} for ns, keys in json.loads(body).items()}

    def commit(self):
        body = json.dumps(self.values, sort_keys=True).encode()
        image = MARKER + body + b"\x00"
        if len(image) > self.partition.size:
            raise esp_error(ESP_ERR_NVS_NOT_ENOUGH_SPACE)
        self.flash.load(self.partition.offset, image + b"\xff" * (self.partition.size - len(image)))

    def open(self, namespace):
        _check_name(namespace)
        self.values.setdefault(namespace, {})

    def set(self, namespace, key, kind, value):
        _check_name(key)
        self.values.setdefault(namespace, {})[key] = (kind, value)

    def get(self, namespace, key, kind):
        _check_name(key)
        entry = self.values.get(namespace, {}).get(key)
        if entry is None:
            raise esp_error(ESP_ERR_NVS_NOT_FOUND)
        if entry[0] != kind:
            raise esp_error(ESP_ERR_NVS_TYPE_MISMATCH)
        return entry[1]

    def get_blob(self, namespace, key, room):
        value = bytes.fromhex(self.get(namespace, key, "blob"))
        if len(value) > room:
            raise esp_error(ESP_ERR_NVS_INVALID_LENGTH)
        return value

    def erase(self, namespace, key):
        _check_name(key)
        if self.values.get(namespace, {}).pop(key, None) is None:
            raise esp_error(ESP_ERR_NVS_NOT_FOUND)


def _check_name(name):
    if len(name.encode()) > NAME_MAX:
        raise esp_error(ESP_ERR_NVS_KEY_TOO_LONG)
