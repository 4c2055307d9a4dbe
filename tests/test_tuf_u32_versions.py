"""Metadata versions must fit the 32 bits the device stores them in (the state log, tufstore's
head): a timestamp, snapshot, targets or root version of 2^32 or more is refused as bad metadata
when it is verified, instead of failing to be stored (struct.error on CPython, a silent wrap to a
small number on MicroPython, which would then read back as a rollback target)."""

import pytest

from mpboot_fw import statelog, trust, tuf, tufclient, tufstore
from nor_ram import NorRam
from tufrepo import NOW, Repo, unix

TOP = 2**32


def _refresh(dev, repo):
    state = statelog.load(dev)
    trusted = tuf.TrustedSet(state.root(), unix(NOW))
    store = tufstore.Store(state, trusted)
    try:
        tufclient.refresh(trusted, lambda path, cap: repo.fetch("metadata/" + path), store)
    finally:
        store.commit()


@pytest.mark.parametrize("role", ["timestamp", "snapshot", "targets"])
def test_a_version_past_32_bits_is_refused_and_the_stored_set_kept(role):
    repo = Repo()
    dev = NorRam(16)
    statelog.format_partition(dev, repo.published["root"][0])
    _refresh(dev, repo)
    before = {r: tufstore.Store(statelog.load(dev), None).load(r) for r in tufstore.ROLES}
    repo.md[role].signed.version = TOP - 1  # publish() adds one: 2^32
    if role == "targets":
        repo.publish_targets()
    elif role == "snapshot":
        repo.update_snapshot()
    else:
        repo.update_timestamp()
    with pytest.raises(tuf.BadMetadata, match="bad (meta )?version"):
        _refresh(dev, repo)
    after = {r: tufstore.Store(statelog.load(dev), None).load(r) for r in tufstore.ROLES}
    # The version is refused where it is first named: by the timestamp (for the snapshot), by
    # the snapshot (for targets, after a genuine new timestamp was kept).
    kept = ("snapshot", "targets") if role == "targets" else tufstore.ROLES
    assert [after[r] for r in kept] == [before[r] for r in kept]


def test_a_root_version_past_32_bits_is_not_a_valid_root():
    repo = Repo()
    repo.root.version = TOP
    data = repo.sign("root")
    with pytest.raises(trust.TrustError, match="root: bad version"):
        trust.load_root(data)
