"""A whole-flash image for a board: what a factory-fresh device holds, written at offset 0.

Parts, each at its flash offset, 0xFF everywhere else (exactly what `esptool merge-bin
--pad-to-size FLASH_SIZE` makes from the same parts):

| part            | where                  | content                                              |
|-----------------|------------------------|------------------------------------------------------|
| bootloader      | 0x1000 (ESP32) / 0x0   | from a merged MicroPython download (up to 0x8000)    |
| partition table | 0x8000                 | the board's layout, ESP-IDF binary with MD5 row      |
| otadata         | otadata partition      | ota_0 selected: seq 1, VALID (what ESP-IDF's bootloader writes on first boot) |
| app             | ota_0                  | the app file as given (a signed image: the ESP-IDF app is its first bytes) |
| state           | mpboot partition       | the boot stage's state log holding the trust anchor (with a root) and the floors (mpboot.floors) |
| vfs             | vfs partition          | LittleFS as MicroPython formats it, with the given files (none: erased, so the first boot formats it) |
| romfs           | romfs partition, if the board has one | a ROMFS of the device package's active copy, when the files hold the bundle mpboot (docs/romfs.md) |

Bundles go into the vfs files as mpboot.bundle.layouts() lays them out (/bundles/NAME/a/...,
the manifest, the pointer `a`), verified against the root and the board first.
"""

import io
from pathlib import Path

from littlefs import LittleFSError

from mpboot import boards, bundle, floors
from mpboot.emulator.flash import NorFlash
from mpboot.emulator.partition import FlashPartition
from mpboot.emulator.vfs import build_image
from mpboot.errors import MpbootError
from mpboot.espidf import otadata
from mpboot.espidf import partition_table as pt
from mpboot.signing import chip_name, find_merged_app, load_app, verify_image
from mpboot_fw import appimage, romfs, statelog
from mpboot_fw.trust import TrustError, load_root
from mpboot_fw.blockdev import BytesDevice

IMAGE_MAGIC = 0xE9
CHIP_ID_OFFSET = 12


def bootloader_from_merged(data, board, what="firmware"):
    """The bootloader region [bootloader offset, 0x8000) of a merged download for `board`."""
    length = pt.TABLE_OFFSET - board.bootloader_offset
    if len(data) < length + 2 or data[length:length + 2] != pt.MAGIC:
        raise MpbootError("%s is not a merged firmware download for %s (no partition table at file offset 0x%x): "
                          "give the .bin that is flashed at 0x%x" % (what, board.chip, length, board.bootloader_offset))
    if data[0] != IMAGE_MAGIC:
        raise MpbootError("%s has no bootloader image at its start (byte 0 is 0x%02x, not 0xe9)" % (what, data[0]))
    chip_id = int.from_bytes(data[CHIP_ID_OFFSET:CHIP_ID_OFFSET + 2], "little")
    if chip_id != board.chip_id:
        raise MpbootError("%s has a bootloader for %s, but board %s is %s: use the download for the board's chip"
                          % (what, chip_name(chip_id), board.name, board.chip))
    return bytes(data[:length])


def read_files(directory):
    """{"/relative/path": bytes} for every file under `directory`."""
    root = Path(directory)
    if not root.is_dir():
        raise MpbootError("--files %s is not a directory" % directory)
    return {"/" + p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file() and "__pycache__" not in p.parts}


def parts(board, app, firmware=None, root=None, files=None, start=None):
    """[(flash offset, bytes, name)] in flash order. `app`: the signed image file (or a merged
    download, whose bootloader and app are then used); `firmware`: a merged download to take the
    bootloader from; `root`: root metadata bytes for the state partition; `start`: the floors it
    starts with (a floors.Start; default: state_start's); `files`: {path: bytes}."""
    slot = board.app_slots[0]
    app, firmware = _app_and_bootloader(app, firmware, board)
    if firmware is None:
        raise MpbootError("no bootloader: give --firmware, the merged MicroPython download the app comes from")
    out = [
        (board.bootloader_offset, bootloader_from_merged(firmware, board), "bootloader"),
        (pt.TABLE_OFFSET, pt.to_binary(board.partitions), "partition table"),
        (board.otadata.offset, otadata.initial_image(0), "otadata"),
        (slot.offset, bytes(app), "app in %s" % slot.name),
    ]
    if files:
        out.append((board.partition(boards.VFS_PARTITION).offset, vfs_image(board, files), "vfs"))
        rom = romfs_image(board, files)
        if rom is not None:
            out.append((board.partition(boards.ROMFS_PARTITION).offset, rom, "romfs (device package)"))
    if root is not None:
        start = start or state_start(board, app, root)
        state = board.partition(boards.STATE_PARTITION)
        out.append((state.offset, _state_image(state.size, root, start), "state (trust anchor)"))
    return sorted(out, key=lambda part: part[0])


def state_start(board, app, root, security_floor=None, time_floor=None, now=None):
    """The floors.Start of a device whose ota_0 holds `app` and that trusts `root` (bytes): the
    image must verify against the root as the boot stage checks it, since it would not run."""
    return floors.choose(running_manifest(board, app, root), security_floor, time_floor, now)


def running_manifest(board, app, root):
    """The image.Manifest of `app` (for ota_0) verified against `root` (bytes) as the stage
    verifies it, or one MpbootError line."""
    app = _app_and_bootloader(app, None, board)[0]
    try:
        return verify_image(app, _anchor(root), chip_id=board.chip_id, board=board.name)
    except MpbootError as e:
        raise MpbootError("--app does not verify against --root, so the boot stage would not run it: %s; "
                          "give an image signed by the root's targets key(s) (mpboot sign)" % e) from None


def add_bundles(board, firmware, root, files, bundles):
    """`files` ({path: bytes}) with `bundles` ([(what, bundle bytes)]) laid out on top, each
    verified against `root` (bytes), the board and `firmware`, the version of the image the
    device runs (running_manifest's: a bundle needing a newer firmware is refused). A bundle the
    files already hold (under /bundles/NAME/) is refused: one directory holds one bundle."""
    found, laid = bundle.layouts(bundles, _anchor(root), board, firmware=firmware)
    out = dict(files or {})
    for b in found:
        held = sorted(p for p in out if p.startswith("%s/%s/" % (bundle.ROOT, b.name)))
        if held:
            raise MpbootError("the files already hold the bundle %s (%s): give it once, as --bundle or in --files"
                              % (b.name, held[0]))
    out.update(laid)
    return out


def vfs_image(board, files):
    """The vfs partition's LittleFS image holding `files`, or one MpbootError line when they do
    not fit (the host's LittleFS is the device's: what does not fit here does not fit there)."""
    vfs = board.partition(boards.VFS_PARTITION)
    try:
        return build_image(vfs.size, files)
    except LittleFSError as e:
        if e.code != LittleFSError.Error.LFS_ERR_NOSPC:
            raise
        raise MpbootError("the files (%d, %d bytes) do not fit the %d-byte vfs partition of board %s (LittleFS "
                          "needs room for its blocks too): leave some out, or compile them (--mpy)"
                          % (len(files), sum(len(d) for d in files.values()), vfs.size, board.name)) from None


def romfs_image(board, files):
    """The romfs partition's content: a ROMFS holding the files of the device package's active
    copy among `files` (/bundles/mpboot/X/..., X from the pointer), which the loader then runs
    from flash; None when the board has no romfs partition or the files hold no such copy. One
    that does not fit is one MpbootError line."""
    if not any(p.name == boards.ROMFS_PARTITION for p in board.partitions):
        return None
    top = "%s/%s/" % (bundle.ROOT, bundle.fmt.DEVICE_PACKAGE)
    pointer = files.get(top + "boot")
    if pointer is None:
        return None
    copy = top + pointer.split(b" ")[0].decode() + "/"
    held = {path[len(copy):]: data for path, data in sorted(files.items()) if path.startswith(copy)}
    if not held:
        return None
    image = romfs.Image([(path, len(data)) for path, data in held.items()])
    size = board.partition(boards.ROMFS_PARTITION).size
    if image.size > size:
        raise MpbootError("the device package (%d bytes as ROMFS) does not fit the %d-byte romfs partition of "
                          "board %s: give the board a larger one, or compile the package (--mpy)"
                          % (image.size, size, board.name))
    out = bytearray()
    image.write(out.extend, lambda path: io.BytesIO(held[path]), bytearray(4096))
    return bytes(out)


def build(board, app, firmware=None, root=None, files=None, start=None):
    """(the whole-flash image, board.flash_size bytes; its parts as parts() lists them)."""
    laid_out = parts(board, app, firmware, root, files, start)
    image = bytearray(b"\xff" * board.flash_size)
    for offset, data, _ in laid_out:
        image[offset:offset + len(data)] = data
    return bytes(image), laid_out


def _app_and_bootloader(app, firmware, board):
    """(the app for ota_0, checked as the bootloader checks it; the merged download to take the
    bootloader from: `firmware`, or `app` itself when it is one)."""
    slot = board.app_slots[0]
    if find_merged_app(app) is not None:
        firmware = firmware or app
        app = load_app(app, board.chip_id, "--app").app
    if len(app) > slot.size:
        raise MpbootError("--app is %d bytes, larger than %s (%d bytes)" % (len(app), slot.name, slot.size))
    try:
        appimage.validate(BytesDevice(app), len(app), board.chip_id)  # a truncated file ends the image
    except appimage.AppImageError as e:
        raise MpbootError("--app does not start with an ESP-IDF app for %s that the bootloader accepts (%s check "
                          "failed): give the signed image of a firmware for this board" % (board.chip, e)) from None
    return app, firmware


def _anchor(root):
    try:
        return load_root(root)
    except (TrustError, ValueError) as e:
        raise MpbootError("--root cannot be the trust anchor: %s" % e) from None


def _state_image(size, root, start):
    flash = NorFlash(size=size)
    try:
        statelog.format_partition(FlashPartition(flash, 0, size), root, floor=start.security_floor,
                                  time_floor=start.time_floor)
    except (statelog.StateError, TrustError, ValueError) as e:  # bad root metadata, partition too small
        raise MpbootError("--root cannot be the trust anchor: %s" % e) from None
    return bytes(flash.mem)
