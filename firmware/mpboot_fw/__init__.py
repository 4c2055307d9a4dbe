"""mpboot device package: the code that runs on the board (MicroPython) and is imported by the host tools (CPython)."""
