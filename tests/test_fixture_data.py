"""The committed device-test fixtures are exactly what their generators build today:
tests/make_device_data.py (roots and signed images in tests/device/data/) and
tests/make_tuf_data.py (the TUF repository history in tests/device/data/tuf/)."""

import pytest

import make_device_data
import make_tuf_data

BUILT = {make_device_data: make_device_data.build_all(), make_tuf_data: make_tuf_data.build()}


@pytest.mark.parametrize("generator,name", [(g, n) for g, files in BUILT.items() for n in sorted(files)],
                         ids=lambda v: getattr(v, "__name__", v))
def test_fixture_is_up_to_date(generator, name):
    path = generator.DATA_DIR / name
    fix = "run python tests/%s.py" % generator.__name__
    assert path.exists(), "missing %s: %s" % (path, fix)
    assert path.read_bytes() == BUILT[generator][name], "%s is stale: %s" % (path, fix)


def test_no_stray_tuf_fixtures():
    assert sorted(p.name for p in make_tuf_data.DATA_DIR.iterdir()) == sorted(BUILT[make_tuf_data])
