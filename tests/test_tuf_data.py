"""The committed TUF fixtures (tests/device/data/tuf/) are exactly what make_tuf_data builds today."""

import pytest

import make_tuf_data

BUILT = make_tuf_data.build()


@pytest.mark.parametrize("name", sorted(BUILT))
def test_fixture_is_up_to_date(name):
    path = make_tuf_data.DATA_DIR / name
    assert path.exists(), "missing %s: run python tests/make_tuf_data.py" % path
    assert path.read_bytes() == BUILT[name], "%s is stale: run python tests/make_tuf_data.py" % path


def test_no_stray_fixtures():
    assert sorted(p.name for p in make_tuf_data.DATA_DIR.iterdir()) == sorted(BUILT)
