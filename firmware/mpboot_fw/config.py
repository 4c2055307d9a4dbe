"""The device's configuration: a small JSON file on the filesystem, written at provisioning.

    {"board": "esp32-4mb", "chip_id": 0, "channel": "stable", "policy": "every-boot",
     "health": "app_health:check", "health_ms": 10000, "state": "mpboot"}

- board, chip_id: what this device is; images signed for another board or chip are refused.
  Absent: the running image's (context.load reads its manifest), so no check is ever skipped.
- channel: the update channel the updater follows.
- policy: "every-boot" (verify the running slot on every boot: hash + one signature check) or
  "trial-only" (only the first boot after an install). docs/boot-stage.md has the costs.
- health: "module:function" called on a trial boot before confirming; it must return a true
  value. health_ms: its time limit (a watchdog is armed for it; at least 1000, the ESP32 task
  watchdog counts whole seconds).
- state: the label of the data partition that holds the boot stage's state log.
- app: the name of the bundle whose entry point /main.py starts (optional: without it, the one
  installed bundle other than mpboot that has an entry point; docs/loader.md).

Text fields are printable ASCII without spaces: both runtimes read such text alike (MicroPython
keeps an escaped surrogate pair as two characters, CPython joins them), and it goes into the
state log and onto the console as it is.

The trust anchor is not here: it lives in the state partition, written at provisioning.
`load()` returns the defaults when the file does not exist and raises ConfigError, and nothing
else, for a file that is there but cannot be read or is wrong, so a typo never silently weakens
a check: the stage logs it as bad-config and falls back to the defaults (every-boot, board and
chip_id the running image's).
"""

import errno
import json

from mpboot_fw import cjson

PATH = "/mpboot.json"
POLICIES = ("every-boot", "trial-only")
MAX_SIZE = 1024
_TEXT_MAX = 32
_HEALTH_MS_MAX = 3600000
_MAX_DEPTH = 2  # a flat object; 2 so that a list given for a field is named as a bad value
# "No such file": errno.ENOENT on a board (LittleFS), and 44 on the WebAssembly port, whose
# filesystem keeps Emscripten's numbers (44 is no error open() gives on a board).
NO_FILE = (errno.ENOENT, 44)


class ConfigError(Exception):
    """The configuration file exists but cannot be read or is not valid; the message says
    why (names the field)."""


class Config:
    def __init__(self):
        self.board = None
        self.chip_id = None
        self.channel = "stable"
        self.policy = POLICIES[0]
        self.health = None
        self.health_ms = 10000
        self.state = "mpboot"
        self.app = None


def load(path=PATH):
    """The configuration in `path`; defaults when the file does not exist."""
    doc = read_json(path, ConfigError)
    return Config() if doc is None else check(doc)


def read_json(path, error):
    """The JSON document in file `path` (at most MAX_SIZE bytes), or None when there is no such
    file; raises `error` (an exception class), and nothing else, for a file that cannot be
    read or is not that. Only "no such file" means no file: any other failure to open it is an
    error, never the defaults."""
    try:
        f = open(path, "rb")
    except OSError as e:
        if e.errno in NO_FILE:
            return None
        raise error("cannot open (OSError %s)" % e.errno)
    try:
        try:
            raw = f.read(MAX_SIZE + 1)
        finally:
            f.close()
    except OSError as e:
        raise error("cannot read (OSError %s)" % e.errno)
    if len(raw) > MAX_SIZE:
        raise error("file over 1 KiB")
    try:
        # MicroPython's json.loads takes text CPython refuses (no commas, bytes after a NUL, int
        # keys): the strict check first makes both take the same decision, and bounds nesting.
        cjson.check_syntax(raw, _MAX_DEPTH)
        return json.loads(raw)
    except ValueError:  # UnicodeError too, on both runtimes
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
    cfg.app = _text(doc, "app", cfg.app)
    return cfg


def check_fields(doc, defaults, error):
    """Raise `error` unless `doc` is an object whose every field `defaults` (the configuration
    object) has: a misspelt field is refused, never silently left at its default."""
    if not isinstance(doc, dict):
        raise error("not an object")
    for key in doc:
        if not printable(key, _TEXT_MAX):
            raise error("unknown field: not text of 1-32 printable ASCII characters")
    for key in sorted(doc):  # dict order differs between runtimes; the reason logged must not
        if key not in defaults.__dict__:
            raise error("unknown field " + key)


def printable(text, most):
    """Is `text` a str of 1 to `most` printable ASCII characters, without spaces?"""
    if not isinstance(text, str) or not 0 < len(text) <= most:
        return False
    try:
        raw = text.encode()
    except UnicodeError:  # a lone surrogate, on CPython (MicroPython encodes it in 3 bytes)
        return False
    for c in raw:  # ints: nothing allocated per character
        if not 0x20 < c < 0x7F:
            return False
    return True


def _text(doc, key, default):
    value = doc.get(key, default)
    if value is None and default is None:
        return None
    if not printable(value, _TEXT_MAX):
        raise ConfigError(key + " must be text of 1-32 printable ASCII characters")
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

