"""The reference time of an update: the device clock in Unix seconds, never below the floor.

TUF judges every expiry against one time taken when an update starts (tuf.TrustedSet's `now`).
On a device that is the RTC, which may be unset (a fresh board counts from its epoch) or set
back by whoever controls the network time source. So the update uses the clock only when it
is not behind the trusted time floor kept in flash (statelog's time_floor), and the floor
otherwise. After an update that verified a full set of fresh metadata, the updater raises the
floor to TrustedSet.safe_time_floor(): the clock value that set agreed with (see tuf.py for why
nothing else is safe to raise it from).

MicroPython ports count from different epochs: 1970 on the unix and webassembly ports, 2000 on
some bare-metal ports (time.gmtime(0)[0] says which). Expiry dates are parsed into Unix seconds
(trust.parse_time), so the clock is converted to the same scale. time.time() may be a float
(the webassembly port's is): it is truncated before any comparison.
"""

import time

try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


# Seconds from 1970-01-01 to 2000-01-01 (10957 days).
EPOCH_2000 = const(946684800)


def unix_time():
    """The device clock in integer Unix seconds, on any port's epoch."""
    return int(time.time()) + epoch_offset(time.gmtime(0)[0])


def epoch_offset(epoch_year):
    """What to add to the port's time.time() to get Unix seconds."""
    if epoch_year == 1970:
        return 0
    if epoch_year == 2000:
        return EPOCH_2000
    raise ValueError("epoch %d" % epoch_year)


def reference_time(clock, floor):
    """The time an update judges expiry by: the clock, or the floor when the clock is behind it."""
    return clock if clock > floor else floor
