"""The device's configuration: a small JSON file on the filesystem, written at provisioning.

    {"board": "esp32-4mb", "chip_id": 0, "channel": "stable", "policy": "every-boot",
     "health": "app_health:check", "health_ms": 10000, "state": "mpboot"}

- board, chip_id: what this device is; images signed for another board or chip are refused.
  Absent: that check is skipped (a manifest's chip still has to be one the bootloader boots).
- channel: the update channel the updater follows.
- policy: "every-boot" (verify the running slot on every boot: hash + one signature check) or
  "trial-only" (only the first boot after an install). docs/boot-stage.md has the costs.
- health: "module:function" called on a trial boot before confirming; it must return a true
  value. health_ms: its time limit (a watchdog is armed for it; at least 1000, the ESP32 task
  watchdog counts whole seconds).
- state: the label of the data partition that holds the boot stage's state log.

The trust anchor is not here: it lives in the state partition, written at provisioning.
`load()` returns the defaults when the file does not exist and raises ConfigError for a file
that is there but wrong, so a typo never silently weakens a check: the stage logs it and falls
back to the defaults (every-boot).
"""

import json

PATH = "/mpboot.json"
POLICIES = ("every-boot", "trial-only")
MAX_SIZE = 1024
_TEXT_MAX = 32
_HEALTH_MS_MAX = 3600000


class ConfigError(Exception):
    """The configuration file exists but is not valid; the message names the field."""


class Config:
    def __init__(self):
        self.board = None
        self.chip_id = None
        self.channel = "stable"
        self.policy = POLICIES[0]
        self.health = None
        self.health_ms = 10000
        self.state = "mpboot"


def load(path=PATH):
    """The configuration in `path`; defaults when the file does not exist."""
    doc = read_json(path, ConfigError)
    return Config() if doc is None else check(doc)


def read_json(path, error):
    """The JSON document in file `path` (at most MAX_SIZE bytes), or None when there is no such
    file; raises `error` (an exception class) for a file that is there but is not that."""
    try:
        f = open(path, "rb")
    except OSError:
        return None
    try:
        raw = f.read(MAX_SIZE + 1)
    finally:
        f.close()
    if len(raw) > MAX_SIZE:
        raise error("file over 1 KiB")
    try:
        return json.loads(raw)
    except ValueError:
        raise error("not JSON")


def check(doc):
    """A Config from a parsed document, every field checked (unknown fields are refused)."""
    cfg = Config()
    check_fields(doc, cfg, ConfigError)
    cfg.board = _text(doc, "board", cfg.board)
    cfg.chip_id = _int(doc, "chip_id", cfg.chip_id, 0, 0xFFFF)
    cfg.channel = _text(doc, "channel", cfg.channel)
    cfg.policy = _text(doc, "policy", cfg.policy)
    if cfg.policy not in POLICIES:
        raise ConfigError("policy must be every-boot or trial-only")
    cfg.health = _text(doc, "health", cfg.health)
    if cfg.health is not None and not _is_hook(cfg.health):
        raise ConfigError("health must be module:function")
    cfg.health_ms = _int(doc, "health_ms", cfg.health_ms, 1000, _HEALTH_MS_MAX)
    cfg.state = _text(doc, "state", cfg.state)
    return cfg


def check_fields(doc, defaults, error):
    """Raise `error` unless `doc` is an object whose every field `defaults` (the configuration
    object) has: a misspelt field is refused, never silently left at its default."""
    if not isinstance(doc, dict):
        raise error("not an object")
    for key in doc:
        if not hasattr(defaults, key):
            raise error("unknown field " + key)


def _text(doc, key, default):
    value = doc.get(key, default)
    if value is None and default is None:
        return None
    if not isinstance(value, str) or not 0 < len(value.encode()) <= _TEXT_MAX:
        raise ConfigError(key + " must be text of 1-32 bytes")
    return value


def _int(doc, key, default, low, high):
    value = doc.get(key, default)
    if value is None and default is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ConfigError("%s must be an integer from %d to %d" % (key, low, high))
    return value


def _is_hook(text):
    parts = text.split(":")
    return len(parts) == 2 and all(parts)
