"""Output files are written whole or not at all: a temporary file beside the target, then rename.

A command's output file that exists already is refused unless the user passes --force
(FORCE_HELP): without it the file is linked into place, which fails if another one got there
first, so a file that exists is never replaced, even by a race."""

import os
import tempfile
from pathlib import Path

from mpboot.errors import MpbootError


FORCE_HELP = "replace output files that exist (by default they are refused)"


def add_force_option(parser, help=FORCE_HELP):
    parser.add_argument("--force", action="store_true", help=help)


def refuse_existing(path, what="file"):
    path = Path(path)
    if path.is_dir():  # --force would not help
        raise MpbootError("cannot write %s: it is a directory (give a file name inside it)" % path)
    if path.exists() or path.is_symlink():
        raise MpbootError(_exists_message(path, what))


def _exists_message(path, what):
    return "%s exists: %s (refusing to overwrite it: pass --force to replace it, or choose another name)" % (what, path)


def atomic_write(path, data, mode=0o644, overwrite=True, what="output file"):
    """Write `data` (bytes or str) to `path` atomically, with permissions `mode` from the start.
    With `overwrite` False a file at `path` is refused (MpbootError naming --force), however late
    it appeared."""
    path = Path(path)
    if isinstance(data, str):
        data = data.encode()
    if not overwrite:
        refuse_existing(path, what)
    elif path.is_dir():
        raise MpbootError("cannot write %s: it is a directory (give a file name inside it)" % path)
    directory = path.parent if str(path.parent) else Path(".")
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
        if overwrite:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)  # fails if a file got there since refuse_existing: never replaced
            except FileExistsError:
                raise MpbootError(_exists_message(path, what)) from None
            except OSError:  # no hard links on this file system (FAT): refuse_existing was the check
                os.replace(tmp, path)
            else:
                os.unlink(tmp)
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
