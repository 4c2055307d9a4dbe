"""A frozen repository (its timestamp unchanged and expired) is refused before the device
downloads anything more than the timestamp: the snapshot it names could not be used anyway."""

import time

from otaworld import output_line, world  # noqa: F401 (fixture)


def test_an_expired_unchanged_timestamp_is_refused_without_fetching_the_snapshot(world):
    w = world
    t = int(time.time()) + 60
    assert output_line(w.boot(clock=t), "ota:") == "current"
    before = len(w.access)
    frozen = w.boot(clock=t + 30 * 86400)
    assert output_line(frozen, "ota-failed:").split()[:3] == ["ota-refused", "Expired", "timestamp"]
    fetched = [line.split()[3] for line in w.access[before:]]
    assert fetched and all("snapshot" not in path and "targets" not in path for path in fetched), fetched
    assert any(path.endswith("/timestamp.json") for path in fetched), fetched
