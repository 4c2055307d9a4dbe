"""Which serial port, with esptool's habits, for every command that talks to a board:
-p/--port, else $ESPTOOL_PORT (esptool's own variable, so one setting serves both), else the
one serial port that looks like a board (USB VID of the USB-serial chips on ESP32 boards, or
Espressif's native USB). Several such ports, or none, is an error that names what was seen.
-b/--baud sets the rate.

A board with native USB (ESP32-S3/C3 USB-Serial-JTAG, ESP32-S2/S3 USB OTG) re-enumerates when
it resets: its port goes away and comes back. `wait_for` waits for it, bounded.
"""

import os
import stat
import time

from serial.tools import list_ports

from mpboot.errors import MpbootError

ENV = "ESPTOOL_PORT"
BOARD_USB = {  # USB vendor id: the chip behind the port
    0x10C4: "CP210x",
    0x1A86: "CH340/CH9102",
    0x0403: "FTDI",
    0x303A: "Espressif native USB",
}
POLL = 0.1  # seconds between looks for a port that is away


def add_options(parser, baud, baud_help, port_help="the board's serial port (/dev/ttyUSB0, COM3, /dev/pts/N)"):
    """-p/--port and -b/--baud, as esptool spells them."""
    parser.add_argument("-p", "--port", help=port_help + "; default $%s, else the one board found on USB" % ENV)
    parser.add_argument("-b", "--baud", type=int, default=baud, metavar="N", help=baud_help)


def resolve(port, baud=None, baud_hint=""):
    """The port to use: `port` (the option), else $ESPTOOL_PORT, else the only board on USB.
    `baud` given: it must be positive (`baud_hint` says what suits)."""
    if baud is not None and baud <= 0:
        raise MpbootError("--baud must be a positive number" + (" (%s)" % baud_hint if baud_hint else ""))
    if port:
        return str(port)
    if os.environ.get(ENV):
        return os.environ[ENV]
    ports = list_ports.comports()
    boards = [p for p in ports if p.vid in BOARD_USB]
    if len(boards) == 1:
        return boards[0].device
    if boards:
        raise MpbootError("several boards on USB: %s: choose one with --port (or %s)"
                          % (", ".join(_describe(p) for p in boards), ENV))
    others = ", ".join(p.device for p in ports)
    raise MpbootError("no --port given, %s is not set, and no board found on USB (%s): connect the board, or "
                      "name its port with --port" % (ENV, "serial ports here: " + others if others else "no serial ports"))


def check_serial(port):
    """Refuse, in one line, a port given as a path that is no serial port (missing, a file,
    /dev/null): a tool run on it would print its own traceback-like report first."""
    if not os.path.isabs(port):
        return  # COM3 and the like: the tool that opens it says what is wrong
    try:
        mode = os.stat(port).st_mode
    except FileNotFoundError:
        raise MpbootError("serial port %s does not exist: connect the board, or name its port with --port" % port) from None
    except OSError as e:
        raise MpbootError("cannot use serial port %s: %s" % (port, e.strerror or e)) from None
    if stat.S_ISCHR(mode):
        try:
            fd = os.open(port, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        except OSError as e:
            raise MpbootError("cannot open serial port %s: %s (is the port free, and yours to use?)"
                              % (port, e.strerror or e)) from None
        try:
            if os.isatty(fd):
                return
        finally:
            os.close(fd)
    raise MpbootError("%s is not a serial port: name the board's port with --port (/dev/ttyUSB0, /dev/ttyACM0, "
                      "/dev/pts/N of `mpboot emulate --serial`)" % port)


def _describe(p):
    return "%s (%s%s)" % (p.device, BOARD_USB[p.vid], ", serial %s" % p.serial_number if p.serial_number else "")


def present(port):
    """Whether `port` is there: a path that exists (a symlink followed), or a listed port (COM3)."""
    if os.path.isabs(port):
        return os.path.exists(port)
    return any(p.device == port for p in list_ports.comports())


def wait_for(port, timeout):
    """Wait up to `timeout` seconds for `port` to be there; whether it is."""
    deadline = time.monotonic() + timeout
    while not present(port):
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL)
    return True
