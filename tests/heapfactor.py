"""How much more heap the 64-bit unix port of MicroPython needs than a 32-bit one for the same
objects: the factor mpboot.mpy.unixport.board_heap() scales an ESP32's heap by.

The steps are a device's own: import the boot path (image, trust, then stage and install), load
the root, open the signed real MicroPython firmware image (1.5 MB) as a file-backed partition,
and verify it there. Both ports run them on the device package compiled to .mpy, as a board
gets it (`mpboot provision`): from source, each port's own compiler would decide how much code
it keeps in RAM (their releases differ), not the width of a pointer. After each step the live
heap above idle is read after a collection at the top level (exact on both ports); the factor
is the unix port's figure over the WebAssembly port's once everything is loaded and verified.
"""

import functools
from pathlib import Path

import mpboot_fw
from bootstage import CREATED, RELEASE, ROOT
from mpboot import mpycross, signing
from realfirmware import micropython_app

FILE_DEVICE = """
class FileDevice:
    # esp32.Partition's reads over a file: the slot the image was written to
    def __init__(self, f, size):
        self.f = f
        self.size = size

    def readblocks(self, n, buf, off=0):
        self.f.seek(n * 4096 + off)
        self.f.readinto(buf)

    def info(self):
        return (0, 0x11, 0, self.size, 'ota_1', False)
"""
STEPS = [
    ("verify path imported", "import gc\nfrom mpboot_fw import image, trust"),
    ("boot path imported", "from mpboot_fw import stage, install"),
    ("root loaded", "with open('/data/root.json', 'rb') as f:\n    root = trust.load_root(f.read())\ndel f"),
    ("image opened", FILE_DEVICE + "dev = FileDevice(open('/data/image.mpb', 'rb'), %d)\nbuf = bytearray(4096)"),
    ("image verified", "m = image.verify_slot(dev, root, 0, 'esp32-4mb', 0, buf=buf)\nprint(m.version)"),
]


@functools.lru_cache(maxsize=1)
def real_image():
    """The real firmware's app signed as an mpboot image (version 2.0.0)."""
    return signing.sign_app(micropython_app(), [RELEASE], "2.0.0", 2, 0, "esp32-4mb", created=CREATED)


@functools.lru_cache(maxsize=1)
def compiled_package():
    """{path on the device: bytes} of mpboot_fw as .mpy (both ports import .mpy 6.3)."""
    package = Path(mpboot_fw.__file__).parent
    files = {"/lib/mpboot_fw/" + p.name: p.read_bytes() for p in sorted(package.glob("*.py"))}
    return mpycross.compile_package(files, mpycross.DEFAULT)


def files():
    """Everything the steps read: the compiled package, the root, the image."""
    return dict(compiled_package(), **{"/data/root.json": ROOT, "/data/image.mpb": real_image()})


def step_code(name, code):
    return code % ((len(real_image()) + 4095) // 4096 * 4096) if name == "image opened" else code


def measure(mp):
    """{"idle": live heap of a fresh interpreter, step: live heap above idle after it}."""
    mp.boot()
    for path, data in files().items():
        mp.put_file(path, data)
    # A pointer left on the stack can keep one run's garbage through one collection.
    live = lambda: min(mp.live_heap(), mp.live_heap())  # noqa: E731
    idle = live()
    result = {"idle": idle}
    for name, code in STEPS:
        out = mp.run(step_code(name, code)).check()
        if name == "image verified":
            assert out.split()[-1] == "2.0.0", out
        result[name] = live() - idle
    return result


def factor(wasm, unix):
    """The unix port's live heap over the WebAssembly port's, everything loaded and verified."""
    return unix["image verified"] / wasm["image verified"]


def whole_run():
    """All the steps as one piece of code (for a fixed-heap run on the unix port)."""
    return "\n".join(step_code(name, code) for name, code in STEPS)
