"""A fleet's repository, 1,000 images over 20 boards with a delegation per board (tests/fleetrepo.py,
made with python-tuf): what a device downloads per check, and its heap on MicroPython, against
the same images in one flat targets file, which the device cannot take. bench/bench_tuf.py prints
the figures; docs/ota.md ("Delegations") records them."""

import pytest

import fleetrepo
from mpboot_fw import tuf

TARGET_HEAP = 48 * 1024


def test_the_flat_repository_is_over_the_devices_cap():
    repo = fleetrepo.flat()
    assert len(repo.published["targets"][-1]) > 25 * tuf.TARGETS_MAX
    with pytest.raises(tuf.TooLarge):
        fleetrepo.Device(repo).check()


def test_a_device_downloads_only_its_way_whatever_the_repository_size():
    rows, repo = fleetrepo.checks()
    sizes = fleetrepo.sizes(repo)
    assert sizes["roles"] == 61 and sizes["all metadata"] > 350_000
    board, channel = fleetrepo.DEVICE
    own = {board, board + "/" + channel}
    for name, fetched, found, _ in rows:
        roles = {path.split(".", 1)[1][:-5].replace("%2F", "/") for path in fetched if path.count(".") == 2}
        assert roles <= own | {"snapshot", "targets"}, (name, roles)  # never another board's roles
        # each check: at most the timestamp, snapshot, targets and the two roles on the way
        assert sum(fetched.values()) <= 21_000, (name, fetched)
        assert found == (26 if name == "new image, own channel" else 25), name
    # what the state partition keeps (timestamp and snapshot first; then what fits of the rest)
    # spares the next check the board role
    assert rows[1][0] == "nothing new" and "1.%s.json" % board not in rows[1][1]


def test_the_fleet_check_fits_the_updaters_heap(micropython):
    result = fleetrepo.heap(micropython, fleetrepo.delegated())
    table = "\n".join("%-13s live %6d allocated %8d bound %8d" % row for row in result["rows"])
    assert result["estimate"] < TARGET_HEAP, table
    live = dict((row[0], row[1]) for row in result["rows"])
    # each role keeps only what the device's directories need: all of top-level targets' 20
    # delegations but one are dropped once verified
    assert live["targets"] < live["snapshot"] + 2048, table
    # the delegated roles' entries go once the image is chosen, before the store writes: nearly
    # all that loading the channel role added (its entries, cut to the fields a device reads:
    # about 9.4 KB here, 16.7 KB before they were cut)
    assert live["search"] - live["chosen"] > 0.85 * (live["channel role"] - live["board role"]), table
    assert live["channel role"] - live["board role"] > 8000, table
    assert live["dropped"] < 4096, table
