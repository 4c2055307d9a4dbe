"""Where bundles are installed, and whether there are any, known without importing the bundle
code: bundle, bundlestore and bundleboot stay on the heap from boot.py until the application
runs, so a device without bundles must never import them (the stage, the updater and the
installer ask here first)."""

import os

from mpboot_fw import config

ROOT = "/bundles"


def present():
    """Is there a bundles directory? False only when it does not exist; any other error reading
    it is the bundle code's to meet, and to fail closed on."""
    try:
        os.stat(ROOT)
    except OSError as e:
        if e.errno in config.NO_FILE:
            return False
    return True
