# main.py: starts the application bundle the boot stage verified (docs/loader.md); none: nothing.
from mpboot_fw import bundleboot
bundleboot.start()
