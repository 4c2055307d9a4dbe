"""The device's root checks against python-tuf's client (TrustedMetadataSet), file by file.

python-tuf is the reference client; where it decides, the device must decide the same way. The
one deliberate difference: python-tuf does not recompute keyids, the spec says a client should,
and the device does (root_keyid_mismatch.json).
"""

import calendar
import random
from datetime import datetime, timezone

import pytest
from tuf.api.exceptions import RepositoryError
from tuf.ngclient._internal.trusted_metadata_set import TrustedMetadataSet
from tuf.ngclient.config import EnvelopeType

from make_device_data import DATA_DIR
from mpboot_fw import trust


def _read(name):
    return (DATA_DIR / name).read_bytes()


def _tuf_accepts(data, trusted=None):
    try:
        if trusted is None:
            TrustedMetadataSet(data, EnvelopeType.METADATA)
        else:
            TrustedMetadataSet(trusted, EnvelopeType.METADATA).update_root(data)
        return True
    except (RepositoryError, ValueError, KeyError, TypeError):
        return False


def _device_accepts(data, trusted=None):
    try:
        trust.load_root(data, trust.load_root(trusted) if trusted else None)
        return True
    except trust.TrustError:
        return False


@pytest.mark.parametrize("name,trusted,expected", [
    ("root.json", None, True),
    ("root_single.json", None, True),
    ("root_other_keytype.json", None, True),
    ("root_p256.json", None, True),
    ("root_one_signature.json", None, False),
    ("root_duplicate_signature.json", None, False),
    ("root_role_duplicate_keyid.json", None, False),
    ("root_v2.json", "root.json", True),
    ("root_v2_new_keys_only.json", "root.json", False),
    ("root_v2_old_keys_only.json", "root.json", False),
    ("root_v3.json", "root.json", False),
    ("root.json", "root.json", False),
])
def test_device_agrees_with_python_tuf(name, trusted, expected):
    trusted_data = _read(trusted) if trusted else None
    assert _tuf_accepts(_read(name), trusted_data) is expected
    assert _device_accepts(_read(name), trusted_data) is expected


def test_keyid_recomputation_is_stricter_than_python_tuf():
    assert _tuf_accepts(_read("root_keyid_mismatch.json"))
    assert not _device_accepts(_read("root_keyid_mismatch.json"))


def test_parse_time_matches_the_calendar():
    rng = random.Random(3)
    for _ in range(5000):
        seconds = rng.randrange(-62135596800, 253402300800)  # year 1 .. 9999
        text = datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        if len(text) == 20:
            assert trust.parse_time(text) == calendar.timegm(datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").timetuple())
