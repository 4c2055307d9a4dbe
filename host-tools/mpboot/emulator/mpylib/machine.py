"""`machine` for the emulated board: resets, reset cause, unique id, watchdog, sleep.

reset() goes back through the emulated second-stage bootloader (reset cause SOFT_RESET, as
ESP_RST_SW maps on an ESP32); deepsleep() does too, with DEEPSLEEP_RESET; a WDT that is not fed
in time resets with WDT_RESET. Constants and numbering are those of ports/esp32/modmachine.c.
"""

import time

from _emu import call

PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3
DEEPSLEEP_RESET = 4
SOFT_RESET = 5

SLEEP = 2
DEEPSLEEP = 4
EXT0_WAKE = 2
PIN_WAKE = 2
EXT1_WAKE = 3
TIMER_WAKE = 4
TOUCHPAD_WAKE = 5
ULP_WAKE = 6

_state = {"cause": PWRON_RESET, "uid": b"", "wake": 0}


def _init(cause, uid, wake):
    _state.update(cause=cause, uid=uid, wake=wake)


def reset():
    call("machine.reset")


def soft_reset():
    raise SystemExit


def reset_cause():
    return _state["cause"]


def wake_reason():
    return _state["wake"]


def unique_id():
    return _state["uid"]


def freq(hz=None):
    if hz is None:
        return 160000000
    return None


def idle():
    pass


def lightsleep(time_ms=0):
    time.sleep_ms(time_ms)


sleep = lightsleep


def deepsleep(time_ms=0):
    call("machine.deepsleep", str(time_ms))


class WDT:
    def __init__(self, id=0, timeout=5000):
        call("machine.wdt", str(timeout))

    def feed(self):
        call("machine.feed")
