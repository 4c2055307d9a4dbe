"""What a device's state starts with besides its trust anchor: the security version floor and the
trusted time floor, for `mpboot flash-image --root` and `mpboot provision --root`.

Formatted with both at 0, a new device would run any older image its root's keys ever signed
(its floor below the image it runs), and on its first update check, its clock unset, it would
accept metadata that expired long ago: a freeze or replay attack would work until the first
successful check. So the state starts with:
- security version floor = the security version of the image the device runs, read and
  verified with the device's own code (mpboot_fw.image.verify_slot against the root);
- time floor = the provisioning time: this machine's clock now, never earlier than that image's
  `created` (the signing time: the release exists, so the true time is at least that).

`--security-floor N` starts lower (the device still accepts older releases down to N);
`--time-floor UNIX` fixes the time (e.g. for byte-identical images from a build), `none` leaves
it at 0: the device trusts its clock until its first successful update check.
"""

import datetime
import time
from dataclasses import asdict, dataclass

from mpboot.errors import MpbootError

NOW = "now"
NONE = "none"

OPTIONS_HELP = """\
The state partition starts with the security version floor at the security version of the image
the device runs (--security-floor N: lower, so older releases down to N stay installable) and
the trusted time floor at the provisioning time: now, never earlier than that image's signing
time (--time-floor UNIX: that time; none: 0, so the device trusts its clock, even an unset one,
until its first successful update check)."""


@dataclass
class Start:
    """The floors a state starts with, and where each came from."""

    security_floor: int
    security_from: str  # "image": the running image's security version; "option"; "unverified": 0
    time_floor: int
    time_from: str  # "now", "created" (the image's signing time, later than now), "option", "none"

    def as_dict(self):
        return asdict(self)

    def describe(self):
        """One line for the command's summary."""
        security = {"image": "the image's security version", "option": "--security-floor",
                    "unverified": "no verified image"}[self.security_from]
        when = {"now": "now", "created": "the image's signing time", "option": "--time-floor",
                "none": "--time-floor none: the device trusts its clock until its first update check"}[self.time_from]
        return "security version floor %d (%s); trusted time floor %s: %s" % (
            self.security_floor, security, describe_time(self.time_floor), when)


def add_options(parser):
    parser.add_argument("--security-floor", type=int, metavar="N",
                        help="security version floor to start with (default: the security version of the image)")
    parser.add_argument("--time-floor", metavar="now|none|UNIX",
                        help="trusted time floor to start with, Unix seconds (default now, never before the image "
                        "was signed; none: 0)")


def choose(image=None, security_floor=None, time_floor=None, now=None):
    """The Start for a device running `image` (a Manifest, or anything with security_version and
    created; None when no image verified), with the options' values (None: the defaults)."""
    now = int(time.time()) if now is None else now
    created = image.created if image is not None else 0
    if security_floor is None:
        start_security = (image.security_version, "image") if image is not None else (0, "unverified")
    elif security_floor < 0:
        raise MpbootError("--security-floor %d: give 0 or more" % security_floor)
    elif image is not None and security_floor > image.security_version:
        raise MpbootError("--security-floor %d is above the security version of the image the device runs (%d): "
                          "the boot stage would refuse it; give %d or less"
                          % (security_floor, image.security_version, image.security_version))
    else:
        start_security = (security_floor, "option")
    text = NOW if time_floor is None else str(time_floor).strip().lower()
    if text == NOW:
        start_time = (max(now, created), "now" if now >= created else "created")
    elif text == NONE:
        start_time = (0, "none")
    else:
        try:
            value = int(text)
        except ValueError:
            raise MpbootError("--time-floor %r: give now, none or Unix seconds" % time_floor) from None
        if value < 0 or value > max(now, created):
            raise MpbootError("--time-floor %s is %s: the device would take all metadata for expired until then; "
                              "give a time from 0 to now (%d), or now" % (text, "negative" if value < 0 else "in the future", now))
        start_time = (value, "option")
    return Start(start_security[0], start_security[1], start_time[0], start_time[1])


def describe_time(seconds):
    """'1767225600 (2026-01-01T00:00:00Z)'; 0 reads as never set."""
    if not seconds:
        return "0 (none yet)"
    try:
        when = datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc)
    except (OverflowError, OSError, ValueError):
        return "%d (beyond the calendar)" % seconds
    return "%d (%s)" % (seconds, when.strftime("%Y-%m-%dT%H:%M:%SZ"))
