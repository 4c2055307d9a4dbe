"""Output files are written whole or not at all: a temporary file beside the target, then rename."""

import os
import tempfile
from pathlib import Path

from mpboot.errors import MpbootError


def refuse_existing(path, what="file"):
    path = Path(path)
    if path.exists():
        raise MpbootError("%s exists: %s (refusing to overwrite; remove it or choose another name)" % (what, path))


def atomic_write(path, data, mode=0o644, overwrite=True):
    """Write `data` (bytes or str) to `path` atomically, with permissions `mode` from the start."""
    path = Path(path)
    if isinstance(data, str):
        data = data.encode()
    if not overwrite:
        refuse_existing(path)
    directory = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise MpbootError("cannot write %s: it is a directory (give a file name inside it)" % path)
    try:
        fd, tmp = tempfile.mkstemp(prefix="." + path.name + ".", suffix=".tmp", dir=directory)
    except OSError as e:
        raise _write_error(path, directory, e) from None
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if not overwrite and path.exists():
            raise MpbootError("file exists: %s (refusing to overwrite)" % path)
        os.replace(tmp, path)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(e, OSError):  # disk full, I/O error: one line, and nothing left behind
            raise _write_error(path, directory, e) from None
        raise


def _write_error(path, directory, e):
    if isinstance(e, FileNotFoundError) and not directory.exists():
        why = "directory %s does not exist (create it first)" % directory
    elif isinstance(e, NotADirectoryError):
        why = "%s is not a directory" % directory
    else:
        why = "%s (check the directory's permissions and free space)" % (e.strerror or e)
    return MpbootError("cannot write %s: %s" % (path, why))


def read_input(path, what="input file"):
    """Read a whole input file, turning OS errors into one clear line."""
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise MpbootError("%s not found: %s" % (what, path)) from None
    except IsADirectoryError:
        raise MpbootError("%s is a directory: %s" % (what, path)) from None
    except OSError as e:
        raise MpbootError("cannot read %s %s: %s" % (what, path, e.strerror or e)) from None
