# boot.py: mpboot's verified boot stage runs before anything else (docs/boot-stage.md).
# stage.main() returns when the application may start, resets the device to roll back or to
# switch slots, and raises when no verified image may run (as does a missing mpboot_fw): since
# MicroPython 1.22 an exception in boot.py keeps main.py from starting, and the REPL stays
# available for a manual install. Your own boot code goes below these lines.
from mpboot_fw import stage

stage.main()
del stage
