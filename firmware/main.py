# main.py: starts the application bundle the boot stage chose, its entry point left by the loader
# (boot.py runs in the same globals; docs/loader.md); none: nothing.
from mpboot_fw import entry
entry.start(mpboot_app)
