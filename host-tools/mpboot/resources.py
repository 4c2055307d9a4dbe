"""Where the files the host tools read besides their code are: the same in a checkout (an
editable install, `make setup`) and in an installed wheel (`pip install .`).

The board definitions (boards/) and the device's boot.py and main.py (firmware/) are shipped as
the data-only packages `mpboot_boards` and `mpboot_device` (pyproject.toml maps them to those
directories), and the device package is `mpboot_fw` itself, so each is found through the import
system.
"""

import importlib.util
from pathlib import Path

import mpboot_fw


def _package_dir(name, probe):
    spec = importlib.util.find_spec(name)
    for location in (spec.submodule_search_locations or ()) if spec else ():
        path = Path(location)
        if (path / probe).exists():
            return path
    raise RuntimeError("mpboot is installed without its %s data (%s): reinstall it (pip install mpboot)" % (name, probe))


def boards_dir():
    """The directory of the board definitions (*.json)."""
    return _package_dir("mpboot_boards", "esp32-4mb.json")


def boot_py():
    """The device's /boot.py, as bytes."""
    return (_package_dir("mpboot_device", "boot.py") / "boot.py").read_bytes()


def main_py():
    """The device's /main.py when the application is a bundle: the fixed starter of its entry
    point (firmware/main.py, docs/loader.md), as bytes."""
    return (_package_dir("mpboot_device", "main.py") / "main.py").read_bytes()


def device_package_dir():
    """The directory of the device package mpboot_fw (what goes to /lib/mpboot_fw/)."""
    return Path(mpboot_fw.__file__).resolve().parent
