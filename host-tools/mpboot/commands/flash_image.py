"""`mpboot flash-image`: a whole-flash image for a board (bootloader, table, otadata, app, state, vfs)."""

import argparse
import json

from mpboot import anchor, boards, flashimage, floors
from mpboot.errors import MpbootError
from mpboot.fileio import add_force_option, atomic_write, read_input, refuse_existing

ORDER = 60

EXAMPLES = """\
examples:
  mpboot flash-image --board esp32-4mb --app app-v1.mpb --firmware ESP32_GENERIC-OTA-v1.23.0.bin \\
      --root root.json --files device/ -o flash.bin
  mpboot flash-image ... --root root.json --time-floor 1767225600 -o flash.bin   # the same bytes every run
  mpboot flash-image --board esp32-4mb --app app-v1.mpb --firmware ESP32_GENERIC-OTA-v1.23.0.bin \\
      --root root.json --files device/ --bundle myapp-1.0.0.mpbundle -o flash.bin
  mpboot emulate flash.bin
  esptool --chip esp32 write-flash 0x0 flash.bin          # the same file on a real board
  qemu-system-xtensa -machine esp32 -drive file=flash.bin,if=mtd,format=raw

--app is the signed image (the ESP-IDF app is its first bytes), written whole into ota_0; a
merged MicroPython download also works (its app and bootloader are used). The bootloader comes
from --firmware, a merged download for the board's chip. otadata selects ota_0. With --root, the
state partition starts out holding that root metadata as the trust anchor, and --app must verify
against it as the boot stage checks it. --files DIR becomes the LittleFS filesystem (boot.py,
main.py, lib/...); without it the vfs partition is left erased and MicroPython formats it on
first boot. --bundle FILE (repeatable) puts a signed bundle into that filesystem as the device
keeps an installed one: /bundles/NAME/a/ (its files), /bundles/NAME/a.mpbm (its manifest) and
/bundles/NAME/boot (the pointer: copy a, confirmed). Each must verify against --root (which it
needs), the board and the version of --app, as the device would check it; two bundles of one
name, or one that --files already holds, are refused. The stage in --files runs it (mpboot
device-files --bundle makes the same layout; --files from device-files --key or --package-bundle
holds the device package as the bundle mpboot; on a board with a romfs partition, such as
esp32-4mb-romfs, the package's active copy goes there too, as ROMFS, and runs from flash:
docs/romfs.md). The result is byte for byte what `esptool merge-bin --pad-to-size <flash size>`
makes from the same parts. A FLASH.bin that exists is refused unless --force, which replaces it
whole (an emulated board's flash: its state and log go with it).

""" + floors.OPTIONS_HELP + "\n"


def register(subparsers):
    p = subparsers.add_parser(
        "flash-image", help="assemble a whole-flash image for a board",
        description="Assemble the complete flash contents of a board, to write at offset 0 or to boot "
        "in `mpboot emulate`.", epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--board", required=True, metavar="B", help="board from boards/ (%s)" % ", ".join(boards.list_boards()))
    p.add_argument("--app", required=True, metavar="SIGNED_IMAGE", help="signed image for ota_0")
    p.add_argument("--firmware", metavar="MERGED.bin", help="merged MicroPython download: the bootloader")
    p.add_argument("--root", metavar="ROOT.json", help="root metadata: the trust anchor in the state partition")
    floors.add_options(p)
    p.add_argument("--files", metavar="DIR", help="files for the vfs partition (LittleFS)")
    p.add_argument("--bundle", action="append", default=[], metavar="FILE",
                   help="signed bundle to put into the vfs partition, ready to run (repeatable; needs --root)")
    p.add_argument("-o", "--output", required=True, metavar="FLASH.bin", help="image to write")
    add_force_option(p, "replace FLASH.bin if it exists (by default it is refused)")
    p.add_argument("--json", action="store_true", help="print the parts as JSON")
    p.set_defaults(func=run)


def run(args):
    if not args.force:
        refuse_existing(args.output, "output file")
    if args.root is None and (args.security_floor is not None or args.time_floor is not None):
        raise MpbootError("--security-floor and --time-floor set up the state partition: they need --root")
    if args.bundle and args.root is None:
        raise MpbootError("--bundle needs --root ROOT.json: the device takes a bundle only when it verifies against "
                          "its root, and so does flash-image")
    board = boards.load_board(args.board)
    app = read_input(args.app, "--app file")
    firmware = read_input(args.firmware, "--firmware file") if args.firmware else None
    root = None
    if args.root:
        anchor.load_root_file(args.root)
        root = read_input(args.root, "root file")
    files = flashimage.read_files(args.files) if args.files else None
    start = None
    if root is not None:  # verified once: the floors start from it, bundles are checked against its version
        running = flashimage.running_manifest(board, app, root)
        start = floors.choose(running, args.security_floor, args.time_floor)
        if args.bundle:
            files = flashimage.add_bundles(board, running.version, root, files,
                                           [(path, read_input(path, "--bundle file")) for path in args.bundle])
    image, parts = flashimage.build(board, app, firmware, root, files, start)
    atomic_write(args.output, image, overwrite=args.force)
    summary = [dict(offset=offset, size=len(data), part=name) for offset, data, name in parts]
    if args.json:
        print(json.dumps(dict(output=str(args.output), board=board.name, flash_size=board.flash_size,
                              parts=summary, state=start and start.as_dict()), indent=2))
    else:
        print("%s: %d bytes for %s" % (args.output, board.flash_size, board.name))
        for part in summary:
            print("  0x%06x  %8d  %s" % (part["offset"], part["size"], part["part"]))
        if start is not None:
            print("  the state starts with: %s" % start.describe())
