# The update's reference time on both runtimes: epoch conversion and the floor rule.
import time

import devtest
from mpboot_fw import trust, tuftime


def test_epoch_2000_offset_is_the_calendar_distance():
    assert tuftime.EPOCH_2000 == trust.parse_time("2000-01-01T00:00:00Z")
    assert tuftime.epoch_offset(1970) == 0
    assert tuftime.epoch_offset(2000) == tuftime.EPOCH_2000
    devtest.raises(ValueError, tuftime.epoch_offset, 1980)


def test_unix_time_is_an_int_on_the_unix_scale():
    now = tuftime.unix_time()
    assert isinstance(now, int)
    # This runtime's own calendar for the same instant agrees with trust.parse_time's scale.
    t = time.gmtime()
    text = "%04d-%02d-%02dT%02d:%02d:%02dZ" % t[:6]
    assert abs(trust.parse_time(text) - now) <= 2
    assert now > trust.parse_time("2024-01-01T00:00:00Z")


def test_reference_time_never_below_the_floor():
    floor = trust.parse_time("2026-06-01T00:00:00Z")
    assert tuftime.reference_time(floor + 5, floor) == floor + 5
    # an unset RTC (a board counting from its epoch) or a clock set back: the floor holds
    assert tuftime.reference_time(0, floor) == floor
    assert tuftime.reference_time(floor - 86400, floor) == floor
