"""The committed device-test fixtures are exactly what tests/make_device_data.py builds today."""

import pytest

import make_device_data

BUILT = make_device_data.build_all()


@pytest.mark.parametrize("name", sorted(BUILT))
def test_fixture_is_up_to_date(name):
    path = make_device_data.DATA_DIR / name
    assert path.exists(), "missing %s: run python tests/make_device_data.py" % path
    assert path.read_bytes() == BUILT[name], "%s is stale: run python tests/make_device_data.py" % path
