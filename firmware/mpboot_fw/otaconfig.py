"""Where the updater gets its updates from: a small JSON file on the filesystem, written at
provisioning.

    {"url": "https://updates.example.com/", "ca": "/mpboot-ca.pem",
     "cert": "/device.pem", "key": "/device.key", "token": "...",
     "stale_after": 172800, "timeout_ms": 15000, "min_rate": 1024}

- url: the repository's base URL (https only); metadata is under url + "metadata/", images
  under url + "targets/" (docs/repository.md). Required.
- ca: the file holding the CA certificate (PEM or DER) the update server's certificate must
  chain to (`mpboot serve` prints it). Required: the device trusts no public CA list.
- cert, key: files of a client certificate and its key, for servers that authenticate devices;
  token: a bearer token sent instead (or as well). All optional.
- stale_after: seconds without a successful check after which the updater reports the device
  as stale (a freeze or a denial of service in progress). Default 2 days.
- timeout_ms, min_rate: a request fails when nothing arrives for timeout_ms, or when it moves
  fewer than min_rate bytes per second (slow retrieval). Defaults 15 s, 1 KiB/s.

Text is printable ASCII without spaces, as in /mpboot.json: it goes into paths, TLS and HTTP
headers as it is. `load()` raises OtaConfigError, and nothing else, whatever the file holds.

It is a file of its own, not part of the boot stage's /mpboot.json: a mistake here stops
updates (and says so in the log) but never changes how the boot stage checks images.
"""

from mpboot_fw import config

PATH = "/mpboot-ota.json"
_TEXT_MAX = 256


class OtaConfigError(Exception):
    """The file is missing or not valid; the message names the field."""


class OtaConfig:
    def __init__(self):
        self.url = None
        self.ca = None
        self.cert = None
        self.key = None
        self.token = None
        self.stale_after = 172800
        self.timeout_ms = 15000
        self.min_rate = 1024


def load(path=PATH):
    doc = config.read_json(path, OtaConfigError)
    if doc is None:
        raise OtaConfigError("no " + path)
    return check(doc)


def check(doc):
    """An OtaConfig from a parsed document, every field checked (unknown fields are refused)."""
    cfg = OtaConfig()
    config.check_fields(doc, cfg, OtaConfigError)
    for key in sorted(doc):  # the first bad field named is the same on both runtimes
        value = doc[key]
        default = getattr(cfg, key)
        if isinstance(default, int):
            if not isinstance(value, int) or isinstance(value, bool) or not 0 < value < 1 << 31:
                raise OtaConfigError(key + " must be a positive integer")
        elif not config.printable(value, _TEXT_MAX):
            raise OtaConfigError(key + " must be text of 1-256 printable ASCII characters")
        setattr(cfg, key, value)
    if cfg.url is None or cfg.url[:8] != "https://":
        raise OtaConfigError("url must start with https://")
    if cfg.url[-1] != "/":
        cfg.url += "/"
    if cfg.ca is None:
        raise OtaConfigError("ca missing")
    if (cfg.cert is None) != (cfg.key is None):
        raise OtaConfigError("cert and key go together")
    return cfg
