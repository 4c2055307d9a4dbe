"""The board's filesystem where the runtime has no VfsLfs2 (the WebAssembly port): the files of
the `vfs` partition, copied into the interpreter's own filesystem before the boot, mounted at
`/`, and every change sent to the host (emulator/vfs.py applies it to a LittleFS copy that goes
back to flash after the boot, outside the power-cut model).

Not a module of the real firmware; where the runtime has VfsLfs2, _emu.mount_flash mounts the
partition itself, as a board does.
"""

import io

import vfs
from _emu import call


def _abspath(cwd, path):
    if path[:1] != "/":
        path = cwd + "/" + path
    parts = []
    for p in path.split("/"):
        if p == "..":
            if parts:
                parts.pop()
        elif p and p != ".":
            parts.append(p)
    return "/" + "/".join(parts)


class _WrittenFile(io.IOBase):
    """A file opened for writing. As with littlefs, opening creates it, and its contents reach
    the filesystem when it is flushed or closed."""

    def __init__(self, f, vfs_, path):
        self._f = f
        self._vfs = vfs_
        self._path = path

    def close(self):
        if self._f is None:
            return
        self._f.close()
        self._f = None
        self._sync()

    def _sync(self):
        # A file renamed or removed while open loses its data here (littlefs would keep it).
        self._vfs.sync(self._path, True)

    def readinto(self, buf):
        return self._f.readinto(buf)

    def write(self, buf):
        return self._f.write(buf)

    def read(self, *args):
        return self._f.read(*args)

    def readline(self, *args):
        return self._f.readline(*args)

    def readlines(self):
        return self._f.readlines()

    def seek(self, *args):
        return self._f.seek(*args)

    def tell(self):
        return self._f.tell()

    def flush(self):
        self._f.flush()
        self._sync()

    def __iter__(self):
        return self._f

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def ioctl(self, op, arg):
        if op == 4:  # MP_STREAM_CLOSE
            self.close()
        elif op == 1:  # MP_STREAM_FLUSH
            self.flush()
        else:
            return -1
        return 0


# Emscripten's (WASI) errno numbers, which VfsPosix raises here -> the ones littlefs raises on a
# board (LFS_ERR_* negated: Linux's numbers), so `e.errno == errno.ENOENT` holds as on a board.
_ERRNO = {44: 2, 63: 1, 29: 5, 8: 9, 2: 13, 20: 17, 54: 20, 31: 21, 28: 22, 51: 28, 37: 36, 55: 39}


def _board_errno(fn, *args):
    try:
        return fn(*args)
    except OSError as e:
        raise OSError(_ERRNO.get(e.errno, e.errno))


class _Posix:
    """VfsPosix with a board's errno numbers."""

    def __init__(self, root):
        self._v = vfs.VfsPosix(root)
        self._root = root
        self._unrooted = vfs.VfsPosix()

    def __getattr__(self, name):
        fn = getattr(self._v, name)
        return lambda *args: _board_errno(fn, *args)

    def rename_abs(self, old, new):
        # VfsPosix.rename builds both rooted paths in one buffer, the second over the first
        # (rename(new, new): ENOENT); a VfsPosix without a root takes the full paths as they are.
        _board_errno(self._unrooted.rename, self._root + old, self._root + new)


class FlashVfs:
    """The board's filesystem at `/`: files live in this interpreter, changes go to the host."""

    def __init__(self, root):
        self._p = _Posix(root)

    def _abs(self, path):
        return _abspath(self._p.getcwd().rstrip("/"), path)

    def mount(self, readonly, mkfs):
        pass

    def umount(self):
        pass

    def sync(self, path, missing_ok=False):
        try:
            f = self._p.open(path, "rb")
        except OSError:
            if missing_ok:
                return
            raise
        data = f.read()
        f.close()
        call("vfs.write", path, data, 1)

    def open(self, path, mode):
        f = self._p.open(path, mode)
        for c in "wax+":
            if c in mode:
                path = self._abs(path)
                self.sync(path)
                return _WrittenFile(f, self, path)
        return f

    def remove(self, path):
        self._p.remove(path)
        call("vfs.remove", self._abs(path))

    def rename(self, old, new):
        old, new = self._abs(old), self._abs(new)
        self._p.rename_abs(old, new)
        call("vfs.rename", old + "\n" + new)

    def mkdir(self, path):
        self._p.mkdir(path)
        call("vfs.mkdir", self._abs(path))

    def rmdir(self, path):
        self._p.rmdir(path)
        call("vfs.rmdir", self._abs(path))

    def ilistdir(self, path):
        # (name, type, 0, size) as VfsLfs2 gives them (VfsPosix has no size; mpremote fs ls shows
        # it); a missing directory raises here, at the call, as on a board.
        entries = self._p.ilistdir(path)
        prefix = path if not path or path[-1] == "/" else path + "/"
        return ((e[0], e[1], 0, 0 if e[1] == 0x4000 else self._p.stat(prefix + e[0])[6]) for e in entries)

    def chdir(self, path):
        return self._p.chdir(path)

    def getcwd(self):
        return self._p.getcwd()

    def stat(self, path):
        return self._p.stat(path)

    def statvfs(self, path):
        return tuple(int(x) for x in call("vfs.statvfs").split())


def setup(root):
    """Mount the board's files at `/`, as _boot.py mounts the vfs partition."""
    import os

    vfs.umount("/")
    vfs.mount(FlashVfs(root), "/")
    os.chdir("/")


