"""`mpboot log`: the boot stage's state and event log, read from a whole-flash image.

The state partition (label `mpboot`) is found through the image's partition table at 0x8000, or
through a board definition with --board, and read with the device's own reader
(mpboot_fw.statelog), so the host shows exactly what the device would load. Nothing is written.
"""

import argparse
import hashlib
import json

from mpboot.boards import STATE_PARTITION, load_board
from mpboot.errors import MpbootError
from mpboot.espidf import partition_table as pt
from mpboot.fileio import read_input
from mpboot.floors import describe_time
from mpboot_fw import statelog
from mpboot_fw.blockdev import BytesDevice

ORDER = 70

EXAMPLES = """\
examples:
  mpboot log flash.bin                      # state summary and events, oldest first
  mpboot log flash.bin --json               # the same for scripts
  mpboot log flash.bin --board esp32-4mb    # locate the partition from the board, not the table

FLASH.bin is a whole-flash image (flash address 0 at file offset 0), as `mpboot flash-image`
writes it or `esptool -p PORT read-flash 0 ALL flash.bin` reads it from a board.
"""


def register(subparsers):
    p = subparsers.add_parser(
        "log", help="show the device's boot-stage state and event log from a flash image",
        description="Show the security version floor, trusted metadata, pending install and the "
        "event log that the boot stage keeps in its state partition.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("flash", metavar="FLASH.bin", help="whole-flash image")
    p.add_argument("--board", metavar="BOARD", help="take the partition layout from this board definition")
    p.add_argument("--json", action="store_true", help="print as JSON")
    p.set_defaults(func=run)


def run(args):
    image = read_input(args.flash, "flash image")
    report = read_report(image, args.board, args.flash)
    print(json.dumps(report, indent=2) if args.json else format_text(report))


def find_partition(image, board=None, name="flash image"):
    """(offset, size) of the state partition, from `board` or from the image's table."""
    if board is not None:
        part = load_board(board).partition(STATE_PARTITION)
    else:
        table = image[pt.TABLE_OFFSET:pt.TABLE_OFFSET + pt.TABLE_MAX_LEN]
        if len(table) < pt.TABLE_MAX_LEN:
            raise MpbootError("%s is too short to hold a partition table at 0x%x: give a whole-flash image"
                              % (name, pt.TABLE_OFFSET))
        try:
            partitions = pt.from_binary(table)
        except pt.PartitionTableError as e:
            raise MpbootError("%s has no valid partition table at 0x%x (%s): pass --board BOARD"
                              % (name, pt.TABLE_OFFSET, e)) from None
        matches = [p for p in partitions if p.name == STATE_PARTITION]
        if not matches:
            raise MpbootError("%s has no %r partition (it has: %s): flash an mpboot image"
                              % (name, STATE_PARTITION, ", ".join(p.name for p in partitions)))
        part = matches[0]
    if part.offset + part.size > len(image):
        raise MpbootError("%s ends at 0x%x, before the %s partition ends (0x%x): give a whole-flash image"
                          % (name, len(image), STATE_PARTITION, part.offset + part.size))
    return part.offset, part.size


def read_report(image, board=None, name="flash image"):
    """Everything the state partition holds, as plain data (bytes as hex)."""
    offset, size = find_partition(image, board, name)
    try:
        st = statelog.load(BytesDevice(memoryview(image)[offset:offset + size]))
    except statelog.StateError as e:
        raise MpbootError("%s: %s partition at 0x%x holds no readable state (%s): it is written by "
                          "`mpboot flash-image`" % (name, STATE_PARTITION, offset, e)) from None
    pending = st.pending
    if pending is not None:
        pending["sha256"] = pending["sha256"].hex()
    root = st.root()
    return {
        "partition": {"label": STATE_PARTITION, "offset": offset, "size": size},
        "floor": st.floor,
        "time_floor": st.time_floor,
        "boot_count": st.boot_count,
        "root": {"version": st.root_version, "length": len(root), "sha256": hashlib.sha256(root).hexdigest()},
        "metadata": {n: {"version": st.blob_version(n), "length": len(st.blob(n))}
                     for n in st.blob_names() if n != statelog.ROOT},
        "pending": pending,
        "log": st.wear(),
        "events": [{"boot": b, "code": c, "reason": r, "detail": d} for b, c, r, d in st.events()],
    }


def format_text(report):
    part = report["partition"]
    log = report["log"]
    lines = [
        "state partition %s at 0x%x (%d KiB)" % (part["label"], part["offset"], part["size"] // 1024),
        "  security version floor  %d" % report["floor"],
        "  trusted time floor      %s" % describe_time(report["time_floor"]),
        "  boot count              %d" % report["boot_count"],
        "  root metadata           version %d, %d bytes, sha256 %s" % (
            report["root"]["version"], report["root"]["length"], report["root"]["sha256"][:16]),
    ]
    for name, blob in sorted(report["metadata"].items()):
        lines.append("  %-23s version %d, %d bytes" % (name, blob["version"], blob["length"]))
    p = report["pending"]
    lines.append("  pending install         " + (
        "none" if p is None else "%s %s (security version %d, sha256 %s, installed at boot %d)"
        % (p["slot"], p["version"], p["secver"], p["sha256"][:16], p["boot"])))
    lines.append("  log                     generation %d, %d of %d sectors live%s" % (
        log["generation"], log["live_sectors"], log["sectors"],
        ", a write was cut off (the next change repairs it)" if log["needs_compaction"] else ""))
    events = report["events"]
    lines.append("events (%d, oldest first; the last %d are kept):" % (len(events), statelog.EVENT_RING))
    for e in events:
        lines.append("  boot %-5d %-16s %s%s" % (e["boot"], e["code"], e["reason"],
                                                  "  [%s]" % e["detail"] if e["detail"] else ""))
    if not events:
        lines.append("  (none)")
    return "\n".join(lines)
