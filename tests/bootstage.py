"""Scenario helpers for the boot stage on the emulated board: fixed keys and roots, small signed
images, a provisioned flash (boot.py + mpboot_fw + config + a test app), and the device's state
read back with its own reader.

The test app on the vfs: main.py prints "APP <slot> <version>"; app_health.check is the health
hook, and it behaves by the running image's app version (read from the running slot, as an app
could): "fail..." returns False, "raise..." raises, "hang..." never returns, "slow..." returns
True after the time limit; anything else is healthy.
"""

import hashlib
from datetime import datetime, timezone

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import appbuilder
from emuboard import new_flash
from mpboot import anchor, boards, provision, signing
from mpboot.emulator.board import Board
from mpboot.emulator.partition import FlashPartition
from mpboot_fw import image, statelog, trust

BOARD = boards.load_board("esp32-4mb")
STATE = BOARD.partition(boards.STATE_PARTITION)
NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)
CREATED = int(NOW.timestamp())
HEALTH_MS = 1000


def key(name):
    """A fixed Ed25519 key derived from its name (signatures are deterministic too)."""
    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"mpboot boot stage test " + name.encode()).digest())


RELEASE, RELEASE2, STRANGER = key("release"), key("release-2"), key("stranger")


def make_root(targets=(RELEASE,), threshold=1):
    online = [key("online").public_key()]
    return anchor.create_root([key("root")], {"targets": [k.public_key() for k in targets], "snapshot": online,
                                              "timestamp": online}, thresholds={"targets": threshold}, now=NOW)


ROOT = make_root()
TRUSTED = trust.load_root(ROOT)
_APPS = {}


def app(version, secver, chip_id=0, size=24000):
    """A synthetic ESP-IDF app of about `size` bytes (its descriptor carries version/secver)."""
    key_ = (version, secver, chip_id, size)
    if key_ not in _APPS:
        seed = int.from_bytes(hashlib.sha256(version.encode()).digest()[:2], "little")
        segments = (size // 2 - size // 2 % 4, size // 2 - size // 2 % 4)
        _APPS[key_] = appbuilder.build(version=version, secure_version=secver, chip_id=chip_id,
                                       data_segments=segments, seed=seed)
    return _APPS[key_]


def signed(version, secver, keys=(RELEASE,), board=BOARD.name, chip_id=0, size=24000):
    """A signed image of a synthetic app whose descriptor says `version` and `secver`."""
    return signing.sign_app(app(version, secver, chip_id, size), list(keys), version, secver, chip_id, board,
                            created=CREATED)


MAIN = """
import esp32
from app_health import version
print('APP', esp32.Partition(esp32.Partition.RUNNING).info()[4], version())
"""
HEALTH = """
import esp32, time


def version():
    b = bytearray(0x50)
    esp32.Partition(esp32.Partition.RUNNING).readblocks(0, b)
    return bytes(b[0x30:0x50]).split(b'\\x00')[0].decode()


def check():
    v = version()
    if v.startswith('fail'):
        return False
    if v.startswith('raise'):
        raise ValueError('sensor missing')
    if v.startswith('hang'):
        while True:
            time.sleep_ms(100)
    if v.startswith('slow'):
        time.sleep_ms(%d)
    return True
""" % (HEALTH_MS + 300)


def provisioned(first, health=True, policy=None, root=ROOT, files=None, floor=1):
    """A NorFlash as `flash-image` would leave it: `first` (signed image bytes) in ota_0,
    otadata selecting it, the state partition holding `root`, and the vfs with the boot stage
    and the test app; the floor starts at `floor` (the factory image's security version)."""
    app_files = {"/main.py": MAIN, "/app_health.py": HEALTH}
    app_files.update(files or {})
    device = provision.device_files(BOARD, app_files, policy=policy, health="app_health:check" if health else None,
                                    health_ms=HEALTH_MS if health else None)
    flash = new_flash(device, slots={0: first})
    statelog.format_partition(state_dev(flash), root, floor=floor)
    flash.reset_log()
    return flash


def state_dev(flash):
    return FlashPartition(flash, STATE.offset, STATE.size)


def state(flash):
    return statelog.load(state_dev(flash))


def events(flash, since=0):
    """[(code, reason, detail)] of the events logged after boot `since`."""
    return [(c, r, d) for b, c, r, d in state(flash).events() if b > since]


def slot_manifest(flash, name):
    """The manifest of the image in slot `name`, verified against ROOT (None if it does not verify)."""
    part = BOARD.partition(name)
    try:
        return image.verify_slot(FlashPartition(flash, part.offset, part.size), TRUSTED)
    except image.ImageError:
        return None


def board(flash, runtime, **kw):
    kw.setdefault("run_timeout", 5.0)
    return Board(flash, BOARD, runtime=runtime, **kw)


def app_line(record):
    """("ota_1", "2.0.0") from main.py's line, or None when the application did not run."""
    for line in record.output:
        if line.startswith("APP "):
            return tuple(line.split()[1:3])
    return None
