"""Manual install on the emulated board: what `mpboot install --flash` does.

The board boots its current image (the boot stage, then main.py); at the REPL the host runs the
device's installer (`mpboot_fw.install.run`) over a host-backed stream that stands in for the
USB serial link, as `mpremote exec` would on a board. The installer writes the image into the
inactive slot, verifies it in flash, records the pending install and resets; the board then
boots on (trial boot, confirmation or rollback) until the application runs again. The verdict
is read from the device's own state log: the events of the boots since the install began.

A bundle (.mpbundle) goes the same way through the device's bundle store
(`mpboot_fw.bundlestore.install`): its inactive copy written and verified in place, the pointer
set for a trial, a reset; the boot stage then verifies it, runs the health check and confirms
it, or the previous copy comes back (bundle-* events).
"""

from dataclasses import dataclass, field

from littlefs import LittleFSError

from mpboot import boards, bundle as hostbundle, progress
from mpboot.emulator import vfs
from mpboot.emulator.partition import FlashPartition
from mpboot.errors import MpbootError
from mpboot_fw import bundlestore, statelog
from mpboot_fw.bundle import BundleError

SERVICE = "serial"
# What runs at the board's REPL; `call` is the emulated board's host-call primitive.
REPL_CODE = """
from _emu import call
from mpboot_fw import install


class _Serial:
    def readinto(self, buf):
        return call("serial.read", None, buf, 0)


try:
    install.run(_Serial(), %d)
except install.InstallError as e:
    print("mpboot: install refused:", e)
"""
# A bundle (.mpbundle): the device's bundle store writes its inactive copy, verifies it in place
# and points the next boot at it; the reset starts its trial (bundleboot: verify, health check,
# confirm, or the previous copy back).
BUNDLE_REPL_CODE = """
from _emu import call
from mpboot_fw import bundle, bundlestore


class _Serial:
    def readinto(self, buf):
        return call("serial.read", None, buf, 0)


try:
    bundlestore.install(_Serial())
except bundle.BundleError as e:
    print("mpboot: install refused:", e)
else:
    __import__("machine").reset()
"""
STILL_BOOTING = ("reset", "wdt", "hang", "panic", "power_cut", "no_app", "bad_partition_table")
VERDICTS = ("confirmed", "refused", "trial-failed", "rolled-back", "recovery")
# A bundle's: the event codes of docs/bundles.md whose detail starts with the bundle's name.
BUNDLE_VERDICTS = ("bundle-confirmed", "bundle-refused", "bundle-trial-failed", "bundle-rolled-back", "bundle-held")


class SerialLink:
    """The image, served to the device's reads in the sizes it asks for."""

    def __init__(self, data, progress=progress.SILENT):
        self.data = data
        self.pos = 0
        self.progress = progress

    def __call__(self, op, arg, body, n):
        chunk = self.data[self.pos:self.pos + n]
        self.pos += len(chunk)
        sent(self.progress, self.pos, len(self.data))
        return len(chunk), chunk


def sent(progress, done, total):
    """Report `done` of `total` bytes sent to the device's installer: once it has them all, it
    verifies the slot (asking once more, for the end)."""
    if done < total:
        progress("sending the image", done, total)
    else:
        progress("the device verifies the image in flash")


@dataclass
class Result:
    accepted: bool  # the device installed, trial-booted and confirmed the image
    reason: str  # the verdict event: "confirmed", or the code and reason of a refusal
    events: list = field(default_factory=list)  # the state log events of these boots
    boots: list = field(default_factory=list)  # BootRecords
    running: str = None  # the slot the application runs from at the end
    floor: int = 0


def state_events(flash, board, bundle=None):
    """(boot counter, events, floor) of the state log in `flash`; the floor of bundle `bundle`
    when given, else the firmware's."""
    part = board.partition(boards.STATE_PARTITION)
    try:
        st = statelog.load(FlashPartition(flash, part.offset, part.size))
    except statelog.StateError as e:
        # Without a state there is no trust anchor: the device's installer refuses everything.
        raise MpbootError("the flash image has no usable mpboot state (%s): make it with mpboot flash-image "
                          "--root ROOT.json, or provision the board (mpboot provision)" % e) from None
    return st.boot_count, list(st.events()), st.floor if bundle is None else st.bundle_floor(bundle)


def install(emulated, image, max_boots=8, progress=progress.SILENT):
    """Install `image` (bytes) on the emulated board `emulated` (an emulator Board) and boot
    until the application runs again; returns a Result. `progress`: see mpboot.progress."""
    since, _, _ = state_events(emulated.flash, emulated.board)
    emulated.services[SERVICE] = SerialLink(image, progress)
    progress("booting to the REPL")
    try:
        records = [emulated.boot(repl=REPL_CODE % len(image))]
    finally:
        del emulated.services[SERVICE]
    progress("trial boot")
    while records[-1].outcome in STILL_BOOTING and len(records) < max_boots:
        records.append(emulated.boot())
    _, events, floor = state_events(emulated.flash, emulated.board)
    accepted, reason, new = judge(events, since, "last boot: %s" % records[-1].outcome)
    return Result(accepted, reason, new, records, records[-1].slot, floor)


def install_bundle(emulated, data, max_boots=8, progress=progress.SILENT):
    """Install bundle bytes `data` on the emulated board at its REPL (bundlestore.install) and
    boot until the application runs again; returns a Result whose `running` is the copy the
    bundle's pointer names at the end and `floor` the bundle's floor."""
    name = hostbundle.inspect_bytes(data).get("manifest", {}).get("name")
    since, _, _ = state_events(emulated.flash, emulated.board)
    emulated.services[SERVICE] = SerialLink(data, progress)
    progress("booting to the REPL")
    try:
        records = [emulated.boot(repl=BUNDLE_REPL_CODE)]
    finally:
        del emulated.services[SERVICE]
    progress("trial boot")
    while records[-1].outcome in STILL_BOOTING and len(records) < max_boots:
        records.append(emulated.boot())
    _, events, floor = state_events(emulated.flash, emulated.board, name or "-")
    accepted, reason, new = judge(events, since, "last boot: %s" % records[-1].outcome, name or "?")
    return Result(accepted, reason, new, records, _bundle_copy(emulated, name), floor)


def _bundle_copy(emulated, name):
    """The copy bundle `name`'s pointer names as confirmed ("a", "b"), or None."""
    if name is None:
        return None
    part = emulated.board.partition(boards.VFS_PARTITION)
    try:
        fs = vfs.mount(bytearray(emulated.flash.read(part.offset, part.size)))
        with fs.open("/bundles/%s/%s" % (name, bundlestore.POINTER), "rb") as f:
            return bundlestore.parse_pointer(f.read(bundlestore.MAX_POINTER + 1)).active
    except (LittleFSError, BundleError):  # no filesystem, no pointer: nothing to name (the verdict says why)
        return None


def judge(events, since, context, bundle=None):
    """(accepted, reason, new events) from the device's state log `events` (boot, code, reason,
    detail), counting those logged after boot `since`; `context` explains a missing verdict.
    Also used by the serial install (serialinstall.py), which reads the log over the REPL.
    bundle: judge the install of the bundle of that name (its bundle-* events; "?" also takes
    a refusal before the device could read the name) instead of a firmware image's."""
    new = [dict(boot=b, code=c, reason=r, detail=d) for b, c, r, d in events if b > since]
    if bundle is None:
        codes, confirmed = VERDICTS, "confirmed"
    else:
        codes, confirmed = BUNDLE_VERDICTS, "bundle-confirmed"
    verdicts = [e for e in new if e["code"] in codes and (bundle is None or _names(e, bundle))]
    accepted = bool(verdicts) and verdicts[-1]["code"] == confirmed
    # A refusal's first event names the failed check; a rollback follows it on the next boot.
    verdict = verdicts[-1] if accepted else (verdicts[0] if verdicts else None)
    if verdict is None:
        reason = "no verdict in the device's log (%s)" % context
    elif accepted:
        reason = "confirmed %s" % verdict["detail"]
    else:
        reason = " ".join(x for x in (verdict["code"], verdict["reason"], verdict["detail"]) if x)
    return accepted, reason, new


def _names(event, bundle):
    first = (event["detail"] or "").split(" ")[0]
    return first == bundle or (first == "?" and event["code"] == "bundle-refused")
