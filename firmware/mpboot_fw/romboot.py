"""The romfs partition kept equal to mpboot's confirmed copy, so the loader runs the package from
flash, out of the heap (docs/romfs.md, "At boot").

The loader runs mpboot_fw from /rom only when /rom holds exactly the copy it chose; after an
update of the bundle "mpboot" (or with an erased, torn or stale partition) the confirmed copy
runs from its directory instead, and the stage calls refresh() at the end of that boot: the
copy's files, as its kept manifest lists them, written as a ROMFS by romfs.write_partition,
whose order leaves the partition without a header or with the whole image at any power cut.
Either way the next boot's loader checks every file against the manifest before it runs one, so
a cut costs one more boot from the directory and one more write, never a wrong package.

A partition that holds the image already is not written again (a firmware that does not mount
it would otherwise have it rewritten on every boot): the image is compared block by block first.
"""

import sys

from mpboot_fw import bundle, bundlefetch, bundleboot, bundlestore, romfs

def refresh(part, copy, buf, documents=None):
    """Make `part` hold the ROMFS of mpboot's copy `copy`, verified in this boot (both from
    bundleboot.Boot.romfs_target); `buf`: one block (4 KiB). True when it was written, False
    when it held that image already. Raises bundle.BundleError (no readable manifest),
    romfs.RomfsError or OSError: the stage logs it."""
    where = bundlestore.copy_dir(bundle.DEVICE_PACKAGE, copy)
    kept = bundlefetch.kept(where + bundlestore.MANIFEST, documents)
    if kept is None:
        raise bundle.BundleError("bad-manifest", "no kept manifest beside %s" % where)
    image = romfs.Image([(path, size) for path, size, _ in kept.files])
    kept = None

    def open_file(path):
        return open(where + "/" + path, "rb")

    if _holds(part, image, open_file, buf):
        return False
    _unmount()
    romfs.write_partition(part, image, open_file, buf)
    return True


def _holds(part, image, open_file, buf):
    """Does `part` hold `image` already? Compared one block at a time, through a second block."""
    if image.size > part.ioctl(4, 0) * len(buf):
        return False  # write_partition says why
    held = bytearray(len(buf))
    i = [0]

    def compare(chunk):
        part.readblocks(i[0], held)
        if memoryview(held)[:len(chunk)] != chunk:
            raise _Differs()
        i[0] += 1

    try:
        image.write(compare, open_file, buf)
    except _Differs:
        return False
    return True


class _Differs(Exception):
    pass


def _unmount():
    """A mounted ROMFS is read in place: it goes before its partition is written."""
    import vfs

    try:
        vfs.umount(bundleboot.ROM)
    except OSError:
        pass  # not mounted (erased, torn, or never: the firmware did not)
    while bundleboot.ROM in sys.path:
        sys.path.remove(bundleboot.ROM)
