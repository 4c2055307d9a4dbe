"""Scenario helpers for the boot stage on the emulated board: fixed keys and roots, small signed
images, a provisioned flash (boot.py + mpboot_fw + config + a test app), and the device's state
read back with its own reader.

The test app on the vfs: main.py prints "APP <slot> <version>"; app_health.check is the health
hook, and it behaves by the running image's app version (read from the running slot, as an app
could): "fail..." returns False, "raise..." raises, "hang..." never returns, "slow..." returns
True after the time limit; "flaky..." is healthy the first time only; anything else is healthy.
"""

import hashlib
from datetime import datetime, timezone

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import appbuilder
from emuboard import new_flash
from mpboot import anchor, boards, provision, signing
from mpboot.manualinstall import REPL_CODE, SERVICE, SerialLink
from mpboot.emulator.board import Board
from mpboot.emulator.flash import NorFlash
from mpboot.emulator.partition import FlashPartition
from mpboot_fw import image, statelog, trust
from mpboot_fw.blockdev import BytesDevice

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
    if v.startswith('flaky'):  # healthy once, then never again
        try:
            open('/flaky.done').close()
            return False
        except OSError:
            open('/flaky.done', 'w').close()
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


def install_run(base, runtime, new_image, cut=None, max_boots=8):
    """A manual install of `new_image` on a copy of flash `base` (a booted device), then boots
    until the application runs with nothing pending, with the power cut per `cut` (a CutPlan,
    or None). After every boot it checks what must hold whatever the cut:
    - the application only ever ran on a correctly signed image at or above the floor;
    - the floor never went down;
    - some slot always holds a correctly signed image at or above the floor, and the board
      always had something to boot; the stage never had to hold the application back.
    Returns (slot, version, floor, boots) of the end state, after one more boot that must
    change nothing."""
    flash = NorFlash(data=base)
    flash.cut = cut
    b = board(flash, runtime)
    link = SerialLink(new_image)
    b.services[SERVICE] = link
    floor = state(flash).floor
    boots = []
    while True:
        before = floor
        record = b.boot(repl=REPL_CODE % len(new_image) if not boots else None)
        boots.append(record)
        where = "boot %d (%s): %s" % (len(boots) - 1, record.outcome, record.error or "")
        st = state(flash)
        floor = st.floor
        assert floor >= before, "floor went down at " + where
        assert record.outcome not in ("no_app", "bad_partition_table", "exception"), where + "\n" + record.text
        ran = app_line(record)
        if ran is not None:
            m = slot_manifest(flash, ran[0])
            assert m is not None and m.security_version >= before, "ran an image below the floor at " + where
        assert any(m is not None and m.security_version >= floor
                   for m in (slot_manifest(flash, s.name) for s in BOARD.app_slots)), "no good slot after " + where
        if ran is not None and st.pending is None:
            break
        assert len(boots) < max_boots, "no stable state after %d boots: %s" % (max_boots, [r.outcome for r in boots])
    again = b.boot()
    assert app_line(again) == ran and state(flash).floor == floor and state(flash).pending is None, again.text
    assert not any(code == "recovery" for _, code, _, _ in state(flash).events())
    return ran[0], ran[1], floor, boots


def install_mutations(new_image):
    """The state log changes a clean install of `new_image` makes, in order, as the device makes
    them (install boot, trial boot, first boot of the app): for placing a compaction."""
    m = image.verify_slot(BytesDevice(new_image), TRUSTED)
    what = "ota_1 %s sv%d" % (m.version, m.security_version)
    return [
        lambda st: st.next_boot(),
        lambda st: st.set_pending("ota_1", m.version, m.security_version, m.payload_sha256),
        lambda st: st.log_event("installed", "", what),
        lambda st: st.next_boot(),
        lambda st: st.log_event("verified", "", what),
        lambda st: st.raise_floor(m.security_version),
        lambda st: st.log_event("confirmed", "", what),
        lambda st: st.clear_pending(),
        lambda st: st.next_boot(),
    ]


def compacting_at(base, new_image, index):
    """`base` with filler events in its state log, so that the state log compacts at change
    `index` of install_mutations(new_image) (a snapshot then lands amid the install)."""
    flash = NorFlash(data=base)
    steps = install_mutations(new_image)
    for n in range(2000):
        probe = NorFlash(data=flash.mem)
        st = state(probe)
        before = st.generation
        at = None
        for i, step in enumerate(steps):
            step(st)
            if st.generation != before:
                at = i
                break
        if at == index:
            return bytes(flash.mem)
        assert at is None or at > index, "filler overshot: compaction at change %d" % at
        # Large events until a compaction comes into reach, then small ones to move it earlier.
        state(flash).log_event("filler", "x" * 90 if at is None else "", "%d" % n)
    raise AssertionError("the state log never compacted")
