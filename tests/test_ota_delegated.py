"""Over-the-air update through a delegated targets role, end to end (tests/otaworld.py: the real
repository library, `mpboot serve` over HTTPS, real MicroPython on the emulated esp32-4mb).

Top-level targets delegates `esp32-4mb/*/*` to a role `esp32-4mb` and `esp32c3-4mb/*/*` to a
role `esp32c3-4mb`, each with a key of its own (`mpboot repo delegate`, docs/repository.md
"Delegations"). The device finds its image in its board's role and fetches no other role (the
served access log says what it fetched). Attacks are forged by hand with python-tuf, as whoever
holds the named key could serve them, and the device's verdict is compared with python-tuf's
ngclient (the oracle) asking the same repository over the same HTTPS server.
"""

import pytest
from tuf.api import exceptions as tuf_errors

from mpboot import keys as keymod
from mpboot.repo import layout
from mpboot.repo.delegations import delegate
from otaworld import output_line, status, world  # noqa: F401 (fixture)
from repotest import CAFetcher, updater as ngclient

ROLE = "esp32-4mb"          # the board of otaworld
OTHER = "esp32c3-4mb"       # another board, with a role (and key) of its own
ATTACK_PATH = "esp32-4mb/stable/3.0.0.mpb"


def role_key(role):
    """The file name, in the World's key directory, of delegated `role`'s key."""
    return "%s-role.pem" % role


def delegated_world(w):
    """Delegate each board's paths to its own role, signed by its own key (not the targets key)."""
    for role in (ROLE, OTHER):
        key = w.keys / role_key(role)
        keymod.generate_keypair(key)
        repo = w.repo()
        delegate(repo, w.keyring(repo), role, ["%s/*/*" % role], [str(key)])
    return w


def metadata_requests(w, since):
    """[(metadata file, status, bytes sent)] the server answered from access-log line `since` on."""
    out = []
    for line in w.access[since:]:
        fields = line.split()
        if len(fields) >= 6 and fields[3].startswith("/metadata/"):
            out.append((fields[3][len("/metadata/"):], fields[4], int(fields[5])))
    return out


def roles_fetched(requests):
    """The role names (N.ROLE.json, ROLE.json) of the files `requests` got, sorted."""
    return sorted({name.split(".", 1)[1].rsplit(".json", 1)[0] if name[0].isdigit() else name.rsplit(".json", 1)[0]
                   for name, code, _ in requests if code == "200"})


def delegated_fetched(requests):
    """The delegated roles among `requests` (a fresh ngclient also fetches the top-level roles a
    device already has stored)."""
    return [r for r in roles_fetched(requests) if r not in layout.ROLES]


def sent_bytes(w, since):
    """Every byte the server sent (metadata, images, errors) from access-log line `since` on."""
    return sum(int(fields[5]) for fields in (line.split() for line in w.access[since:])
               if len(fields) >= 6 and fields[5].isdigit())


def oracle(w, path):
    """python-tuf ngclient from the device's root over the same HTTPS server: (error class or
    None, target info or None, the metadata requests it made)."""
    since = len(w.access)
    client = ngclient(w.tmp / ("ngclient-%d" % since), w.root, w.url, CAFetcher(w.tmp / "tls" / "ca.pem"))
    try:
        client.refresh()
        info = client.get_targetinfo(path)
        error = None
    except tuf_errors.RepositoryError as e:
        info, error = None, type(e)
    return error, info, metadata_requests(w, since)


def test_update_through_the_boards_delegated_role(world):
    w = delegated_world(world)
    since = len(w.access)
    assert output_line(w.boot(), "ota:") == "current"
    first_meta = metadata_requests(w, since)
    # the first check after the delegation: the board's (empty) role, never the other board's
    assert delegated_fetched(first_meta) == [ROLE], first_meta
    report = w.publish_image(w.image("2.0.0"))
    assert report["role"] == ROLE and report["changed"]
    repo = w.repo()
    path = "esp32-4mb/stable/2.0.0.mpb"
    assert path in repo.metadata[ROLE].signed.targets and path not in repo.metadata["targets"].signed.targets
    # the role's key is its own: neither the targets key nor any other top-level key signs it
    role_keys = set(repo.metadata["targets"].signed.delegations.roles[ROLE].keyids)
    assert not role_keys & {k for r in layout.ROLES for k in repo.root.roles[r].keyids}
    since = len(w.access)
    install = w.boot()
    assert install.outcome == "reset" and install.slot == "ota_0", install.output
    install_meta = metadata_requests(w, since)
    install_bytes = sent_bytes(w, since)
    trial = w.boot()
    assert (trial.slot, trial.app["version"]) == ("ota_1", "2.0.0")
    assert "mpboot: boot 3: confirmed ota_1 2.0.0 sv1" in trial.output
    assert output_line(trial, "ota:") == "current"
    since = len(w.access)
    again = w.boot()
    again_meta = metadata_requests(w, since)
    again_bytes = sent_bytes(w, since)
    assert (again.slot, again.app["version"]) == ("ota_1", "2.0.0") and status(again)["ok"]
    assert [e[0] for e in w.ota_events()] == ["ota-current", "ota-download", "installed", "ota-current", "ota-current"]
    slot = w.board.board.app_slots[1]
    image = w.image("2.0.0")
    assert w.flash.read(slot.offset, len(image)) == image
    # the install check fetched the board's role and never the other board's
    assert ROLE in roles_fetched(install_meta) and OTHER not in roles_fetched(install_meta), install_meta
    assert OTHER not in "".join(w.access)
    # a later check finds the same versions stored and fetches only what changed (the timestamp)
    assert roles_fetched(again_meta) == ["timestamp"], again_meta
    print("delegated OTA: first check %d metadata bytes (%s)" % (sum(n for _, _, n in first_meta), first_meta))
    print("delegated OTA: install check %d bytes served (%d metadata: %s), current check %d bytes (%s)"
          % (install_bytes, sum(n for _, _, n in install_meta), install_meta, again_bytes, again_meta))
    # the oracle finds the image where the device did, fetching the same roles
    error, info, requests = oracle(w, path)
    assert error is None and info is not None and info.length == len(image)
    assert delegated_fetched(requests) == delegated_fetched(install_meta) == [ROLE]


@pytest.mark.parametrize("signer", [ROLE, OTHER])
def test_role_metadata_is_trusted_only_when_signed_by_the_roles_key(world, signer):
    """signer ROLE: the control (the forged version is what the role's key holder may publish,
    so the device installs it); OTHER: the same bytes signed by the other board's key."""
    w = delegated_world(world)
    assert output_line(w.boot(), "ota:") == "current"
    # an image properly signed by the targets key, listed in a new version of this board's role
    # signed by `signer`'s role key: with OTHER, only the role's signature is wrong
    w.forge([(ATTACK_PATH, w.image("3.0.0"), None)], role=ROLE, keys={ROLE: [role_key(signer)]})
    since = len(w.access)
    record = w.boot()
    requests, check_bytes = metadata_requests(w, since), sent_bytes(w, since)
    assert ROLE in roles_fetched(requests) and OTHER not in roles_fetched(requests), requests
    error, info, ref_requests = oracle(w, ATTACK_PATH)
    assert delegated_fetched(ref_requests) == delegated_fetched(requests) == [ROLE]
    if signer == ROLE:
        assert record.outcome == "reset", record.output
        assert (error, info.length) == (None, len(w.image("3.0.0")))
        assert w.boot().app["version"] == "3.0.0"
        return
    failed = output_line(record, "ota-failed:").split()
    assert failed[:2] == ["ota-refused", "BadSignature"], record.output
    assert (record.slot, record.app["version"]) == ("ota_0", "1.0.0") and record.outcome != "reset"
    assert w.ota_events()[-1][:2] == ("ota-refused", "BadSignature")
    assert "/targets/" not in "".join(w.access[since:])  # the image is never downloaded
    assert error is not None and issubclass(error, tuf_errors.UnsignedMetadataError) and info is None
    print("wrong-key check: %d bytes served, metadata %s; %s" % (check_bytes, requests, " ".join(failed)))


def test_another_boards_role_cannot_list_this_boards_image(world):
    w = delegated_world(world)
    assert output_line(w.boot(), "ota:") == "current"
    # the other board's role, validly signed by its own key, lists a newer image for this
    # board's path: outside its delegated paths, so no search for this board's images reaches it
    w.forge([(ATTACK_PATH, w.image("3.0.0"), None)], role=OTHER)
    since = len(w.access)
    record = w.boot()
    assert output_line(record, "ota:") == "current", record.output
    assert (record.slot, record.app["version"]) == ("ota_0", "1.0.0") and record.outcome != "reset"
    assert w.ota_events()[-1][0] == "ota-current"
    requests, check_bytes = metadata_requests(w, since), sent_bytes(w, since)
    assert OTHER not in roles_fetched(requests) and "/targets/" not in "".join(w.access[since:]), requests
    error, info, ref_requests = oracle(w, ATTACK_PATH)
    assert (error, info) == (None, None)
    assert OTHER not in roles_fetched(ref_requests)
    # the control: the forged role is valid (ngclient takes it, searching its own paths) and it
    # does list the image
    error, info, ref_requests = oracle(w, "esp32c3-4mb/stable/3.0.0.mpb")
    assert (error, info) == (None, None) and OTHER in roles_fetched(ref_requests)
    assert ATTACK_PATH in w.repo().metadata[OTHER].signed.targets
    print("misdelegated-role check: %d bytes served, metadata %s" % (check_bytes, requests))
