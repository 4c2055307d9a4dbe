"""Delegated targets (spec 5.6.7): the device client against python-tuf's ngclient, the oracle.

Repositories are made with python-tuf's Metadata API (tests/tufrepo.py): hundreds of random
delegation trees from fixed seeds, and the hard cases by hand. On each, ngclient's
Updater.get_targetinfo and the device's tufclient.target_info are asked for the same paths, in
the same order, each client with its own storage, and must agree on every verdict (error or not,
and which kind) and on the target info found. Requests are compared too: the device fetches
exactly the metadata ngclient fetches. The device's directory search (tufclient.find_targets)
must return, for the paths in a directory, exactly what ngclient finds for each one.

Known, deliberate differences (asserted where they show): the device refuses metadata over its
byte caps (TooLarge; 256 bins listed one by one as roles), and a directory search refuses a way of
more than 32 delegated roles (TooManyRoles) where a per-path search quietly stops.
"""

import random
from urllib.parse import quote

import pytest
from tuf.api import exceptions as tuf_errors
from tuf.api.serialization import DeserializationError
from tuf.ngclient import Updater

from mpboot_fw import delegations, tuf, tufclient
from test_tuf_python_tuf_repos import DictStore, RepoFetcher, _error
from tufrepo import NOW, Repo, fixed_key, unix

# ngclient's error -> the device error that means the same, most specific first.
SAME_KIND = [
    (tuf_errors.DownloadLengthMismatchError, (tuf.TooLarge, tuf.LengthOrHashMismatch)),
    (tuf_errors.BadVersionNumberError, tuf.BadVersion),
    (tuf_errors.UnsignedMetadataError, tuf.BadSignature),
    (tuf_errors.ExpiredMetadataError, tuf.Expired),
    (tuf_errors.LengthOrHashMismatchError, tuf.LengthOrHashMismatch),
    (DeserializationError, tuf.BadMetadata),
    (tuf_errors.RepositoryError, tuf.RepositoryError),
    (tuf_errors.DownloadError, tufclient.NotFound),
]


class Pair:
    """ngclient and the device client on one repository, each with its own storage."""

    def __init__(self, repo, tmp_path, name="pair"):
        self.repo = repo
        self.dir = tmp_path / name
        self.dir.mkdir()
        self.root = repo.published["root"][0]
        self.store = DictStore(root=self.root)
        self.start()

    def session(self):
        """A new session of each (a device's next check), from their storage: refresh both;
        (ngclient's error class, the device's), having checked both fetched the same files."""
        self.repo.requests.clear()
        bootstrap = None if (self.dir / "root.json").exists() else self.root
        self.ref = Updater(str(self.dir), "http://repo/metadata/", fetcher=RepoFetcher(self.repo), bootstrap=bootstrap)
        self.ref._trusted_set.reference_time = NOW
        ref_error = _error(self.ref.refresh)
        ref_requests = self._take_requests()
        self.dev = tuf.TrustedSet(self.store["root"], unix(NOW))
        dev_error = _error(tufclient.refresh, self.dev, self.fetch, self.store)
        assert ref_requests == self._take_requests()
        return ref_error, dev_error

    def start(self):
        assert self.session() == (None, None)

    def fetch(self, path, max_length):
        return device_fetch(self.repo)(path, max_length)

    def _take_requests(self):
        out = list(self.repo.requests)
        self.repo.requests.clear()
        return out

    def ask(self, path):
        """Both answers for `path`: (device error class or None, entry or None); asserts they
        agree and that both fetched the same files."""
        ref = {}

        def ref_call():
            info = self.ref.get_targetinfo(path)
            ref["info"] = None if info is None else info.to_dict()

        ref_error = _error(ref_call)
        ref_requests = self._take_requests()
        dev = {}

        def dev_call():
            dev["info"] = tufclient.target_info(self.dev, path, self.fetch, self.store)

        dev_error = _error(dev_call)
        assert (ref_error is None) == (dev_error is None), (path, ref_error, dev_error)
        if ref_error is not None:
            assert issubclass(dev_error, _kind(ref_error)), (path, ref_error, dev_error)
            # ngclient reads a too-long file to its end; the device stops at the listed length
            assert ref_requests == self._take_requests(), path
            return dev_error, None
        assert dev["info"] == ref["info"], path
        assert ref_requests == self._take_requests(), path
        return None, dev["info"]


def device_fetch(repo):
    """The device's fetch over `repo`, as its fetchers behave: None for a missing file, never
    more than max_length bytes (TooLarge, like tufclient_cli.http_get)."""

    def fetch(path, max_length):
        data = repo.fetch("metadata/" + path)
        if data is not None and len(data) > max_length:
            raise tuf.TooLarge(path)
        return data

    return fetch


def _kind(ref_error):
    for ref_class, dev_class in SAME_KIND:
        if issubclass(ref_error, ref_class):
            return dev_class
    raise AssertionError("ngclient raised %s" % ref_error.__name__)


# -- random trees ---------------------------------------------------------------------------------
PATHS = ["a/x", "a/b1", "a/b2", "a/c", "b/x", "b/y", "c/x", "x", "a/b/c", "a/b/d", "b/a/x", "c/d"]
PATTERNS = ["a/*", "a/b*", "a/[bc]*", "a/?", "b/*", "*/x", "*", "*/*", "a/b/*", "*/*/*", "c/[!x]",
            "b/a/x", "x", "[ab]/*", "a/b[12]"]
PREFIXES = ["0", "1", "4", "8", "a", "f", "3c", "9", "c", "e"]
DIRECTORIES = ["a/", "b/", "c/", "a/b/", "b/a/", ""]
FAULTS = ("unsigned", "below_threshold", "version", "expired", "hashes", "missing")


def random_repo(seed):
    """A repository with a random delegation tree (cycles and roles reached twice included),
    random targets (some outside what their role was delegated) and at most one broken role.
    Returns (repo, broken role or None)."""
    rng = random.Random(seed)
    repo = Repo(consistent_snapshot=rng.random() < 0.8)
    roles = ["targets"]
    for i in range(rng.randint(1, 9)):
        name = "r%d" % i if rng.random() < 0.85 else "r %d/%%" % i  # some need quoting
        parent = rng.choice(roles)
        threshold = 2 if rng.random() < 0.15 else 1
        signers = [fixed_key("%s-%d" % (name, k)) for k in range(threshold + (rng.random() < 0.2))]
        if rng.random() < 0.8:
            repo.delegate(parent, name, paths=rng.sample(PATTERNS, rng.randint(1, 3)),
                          terminating=rng.random() < 0.25, signers=signers, threshold=threshold)
        else:
            repo.delegate(parent, name, prefixes=rng.sample(PREFIXES, rng.randint(1, 4)),
                          terminating=rng.random() < 0.25, signers=signers, threshold=threshold)
        roles.append(name)
    # extra edges to existing roles: a role reached twice, or a cycle
    for _ in range(rng.randint(0, 2)):
        parent, child = rng.choice(roles), rng.choice(roles[1:])
        delegations = repo.md[parent].signed.delegations
        if parent != child and (delegations is None or child not in delegations.roles):
            repo.delegate_existing(parent, child, rng.sample(PATTERNS, rng.randint(1, 2)), rng.random() < 0.3)
    for path in PATHS:
        for _ in range(rng.choice((0, 1, 1, 2))):
            repo.add_target(path, ("%s in %d" % (path, seed)).encode() + bytes([rng.randrange(256)]),
                            role=rng.choice(roles))
    broken = rng.choice(roles[1:]) if len(roles) > 1 and rng.random() < 0.4 else None
    fault = rng.choice(FAULTS)
    for role in roles[1:]:
        if role != broken:
            repo.publish(role)
    if broken is not None:
        _break(repo, broken, fault)
    repo.publish_targets()
    if broken is not None and fault in ("hashes", "missing"):
        # served, after the snapshot named the right bytes: other bytes of the same length, or none
        data = repo.published[broken][-1]
        at = data.index(b'"sig":"') + 7
        repo.published[broken][-1] = None if fault == "missing" else \
            data[:at] + (b"1" if data[at:at + 1] == b"0" else b"0") + data[at + 1:]
    return repo, broken


def _break(repo, role, fault):
    """Publish `role` with one fault that every client must refuse."""
    if fault == "unsigned":
        repo.publish(role, signers=[fixed_key("attacker")])
    elif fault == "below_threshold":
        repo.publish(role, signers=repo.signers[role][:-1])
    elif fault == "version":
        # the bytes say version 5; the snapshot (made next) names them as version 1
        repo.md[role].signed.version = 5
        repo.published[role].append(repo.sign(role))
        repo.md[role].signed.version = 1
    elif fault == "expired":
        repo.md[role].signed.expires = NOW.replace(year=2020)
        repo.publish(role)
    else:
        repo.publish(role)


@pytest.mark.parametrize("block", range(8))
def test_random_trees_agree_with_ngclient(tmp_path, block):
    """200 repositories (25 per block), 16 questions each, then a second session from storage
    and two directory searches."""
    verdicts = {"found": 0, "none": 0, "error": 0}
    for seed in range(block * 25, block * 25 + 25):
        repo, broken = random_repo(seed)
        pair = Pair(repo, tmp_path, "s%d" % seed)
        rng = random.Random(seed + 1000)
        asked = PATHS + rng.sample(PATHS, 4)
        answers = {}
        for path in asked:
            error, info = pair.ask(path)
            verdicts["error" if error else "found" if info else "none"] += 1
            answers[path] = (error, info)
        # the next check, from what each client stored: the same answers
        pair.start()
        for path in rng.sample(PATHS, 5):
            assert pair.ask(path)[0] == answers[path][0]
        _check_directories(repo, broken, tmp_path, seed, rng.sample(DIRECTORIES, 2))
    # the random trees exercise every outcome
    assert min(verdicts.values()) > 5, verdicts


def _check_directories(repo, broken, tmp_path, seed, directories):
    """find_targets(directory) == {path in it: what ngclient finds for that path alone}."""
    for directory in directories:
        pair = Pair(repo, tmp_path, "d%d-%s" % (seed, quote(directory, "")))
        expected = {}
        ref_failed = False
        for path in PATHS:
            if path.startswith(directory) and "/" not in path[len(directory):]:
                error, info = pair.ask(path)
                ref_failed = ref_failed or error is not None
                if info is not None:
                    expected[path] = info
        trusted = tuf.TrustedSet(pair.store["root"], unix(NOW))
        tufclient.refresh(trusted, pair.fetch, pair.store)
        try:
            found = tufclient.find_targets(trusted, pair.fetch, DictStore(pair.store), directory)
        except (tuf.RepositoryError, tufclient.NotFound):
            # stricter than asking path by path only because of a broken role on the way
            assert broken is not None or ref_failed, (seed, directory)
            continue
        assert not ref_failed, (seed, directory)
        assert found == expected, (seed, directory)
        # a scoped set (the updater's) finds the same
        scoped = tuf.TrustedSet(pair.store["root"], unix(NOW), scope=(directory,))
        tufclient.refresh(scoped, pair.fetch, DictStore(pair.store))
        assert tufclient.find_targets(scoped, pair.fetch, DictStore(pair.store), directory) == expected


# -- the hard cases -------------------------------------------------------------------------------
def _signers(name, n=1):
    return [fixed_key("%s-%d" % (name, k)) for k in range(n)]


def test_a_role_listing_a_path_outside_its_paths_is_not_trusted_for_it(tmp_path):
    repo = Repo()
    repo.delegate("targets", "a", paths=["a/*"])
    repo.delegate("targets", "b", paths=["b/*"])
    repo.add_target("b/x", b"from a, not delegated to it", role="a")
    repo.add_target("b/y", b"only in a", role="a")
    repo.add_target("b/x", b"from b", role="b")
    for role in ("a", "b"):
        repo.publish(role)
    repo.publish_targets()
    pair = Pair(repo, tmp_path)
    assert pair.ask("b/x")[1]["length"] == len(b"from b")
    assert pair.ask("b/y") == (None, None)
    found = tufclient.find_targets(pair.dev, pair.fetch, pair.store, "b/")
    assert sorted(found) == ["b/x"] and found["b/x"]["length"] == len(b"from b")


def test_below_threshold_and_unsigned_delegated_roles(tmp_path):
    repo = Repo()
    repo.delegate("targets", "two", paths=["a/*"], signers=_signers("two", 2), threshold=2)
    repo.add_target("a/x", b"x", role="two")
    repo.publish("two", signers=repo.signers["two"][:1])
    repo.publish_targets()
    pair = Pair(repo, tmp_path)
    assert pair.ask("a/x")[0] is tuf.BadSignature
    assert pair.ask("b/x") == (None, None)  # not delegated: never fetched
    repo.publish("two")
    repo.publish_targets()
    pair.start()
    assert pair.ask("a/x")[1]["length"] == 1


def test_a_rolled_back_delegated_role(tmp_path):
    repo = Repo()
    repo.delegate("targets", "a", paths=["a/*"])
    repo.add_target("a/x", b"v1", role="a")
    repo.publish("a")
    repo.publish_targets()
    repo.add_target("a/x", b"v2!", role="a")
    repo.publish("a")
    repo.publish_targets()
    pair = Pair(repo, tmp_path)
    assert pair.ask("a/x")[1]["length"] == 3
    # the repository's snapshot goes back to naming a v1: a rollback (5.5.5) for both
    repo.snapshot.meta["a.json"] = repo.metafile("a", 1)
    repo.publish("snapshot")
    repo.update_timestamp()
    ref_error, dev_error = pair.session()
    assert issubclass(ref_error, tuf_errors.BadVersionNumberError) and dev_error is tuf.Rollback


def test_a_delegated_role_whose_version_is_not_the_snapshots(tmp_path):
    repo = Repo(consistent_snapshot=False, hashes=False)  # with hashes, they catch it first
    repo.delegate("targets", "a", paths=["a/*"])
    repo.add_target("a/x", b"x", role="a")
    repo.publish("a")
    repo.publish_targets()
    repo.publish("a")  # v2 served, the snapshot still names v1
    pair = Pair(repo, tmp_path)
    assert pair.ask("a/x")[0] is tuf.MixAndMatch


def test_a_stored_delegated_role_the_snapshot_moved_past_is_fetched_again(tmp_path):
    repo = Repo()
    repo.delegate("targets", "a", paths=["a/*"])
    repo.add_target("a/x", b"x", role="a")
    repo.publish("a")
    repo.publish_targets()
    pair = Pair(repo, tmp_path)
    pair.ask("a/x")
    repo.add_target("a/x", b"xx", role="a")
    repo.publish("a")
    repo.update_snapshot()
    pair.start()
    assert pair.ask("a/x")[1]["length"] == 2
    assert pair.store["a"] == repo.published["a"][-1]


def test_a_terminating_delegation_hides_a_later_match(tmp_path):
    repo = Repo()
    repo.delegate("targets", "first", paths=["a/*"], terminating=True)
    repo.delegate("targets", "later", paths=["a/*", "b/*"])
    repo.add_target("a/y", b"later", role="later")
    repo.add_target("b/y", b"later b", role="later")
    for role in ("first", "later"):
        repo.publish(role)
    repo.publish_targets()
    pair = Pair(repo, tmp_path)
    assert pair.ask("a/y") == (None, None)
    assert pair.ask("b/y")[1]["length"] == 7
    # the directory search stops at the terminating role that holds all of a/: `later` is
    # never fetched for it
    repo.requests.clear()
    fresh = Pair(repo, tmp_path, "fresh")
    assert tufclient.find_targets(fresh.dev, fresh.fetch, fresh.store, "a/") == {}
    assert "later" not in fresh.store


def test_a_role_reached_twice_is_visited_once_with_the_first_delegators_keys(tmp_path):
    repo = Repo()
    repo.delegate("targets", "left", paths=["*/*"])
    repo.delegate("targets", "right", paths=["*/*"])
    repo.delegate("left", "shared", paths=["a/*"])
    repo.delegate_existing("right", "shared", paths=["a/*"], signers=_signers("other"))  # not its key
    repo.add_target("a/x", b"shared", role="shared")
    repo.add_target("a/y", b"right", role="right")
    for role in ("shared", "left", "right"):
        repo.publish(role)
    repo.publish_targets()
    pair = Pair(repo, tmp_path)
    assert pair.ask("a/x")[1]["length"] == 6
    assert pair.ask("a/y")[1]["length"] == 5
    assert pair.ask("a/z") == (None, None)


def test_a_cycle_ends(tmp_path):
    repo = Repo()
    repo.delegate("targets", "a", paths=["*/*"])
    repo.delegate("a", "b", paths=["*/*"])
    repo.delegate_existing("b", "a", paths=["*/*"])
    repo.add_target("x/y", b"b", role="b")
    for role in ("a", "b"):
        repo.publish(role)
    repo.publish_targets()
    pair = Pair(repo, tmp_path)
    assert pair.ask("x/z") == (None, None)
    assert pair.ask("x/y")[1]["length"] == 1


@pytest.mark.parametrize("depth", [31, 32, 33, 34, 40])
def test_delegation_chains_at_and_over_the_limit(tmp_path, depth):
    repo = Repo()
    parent = "targets"
    for i in range(depth):
        repo.delegate(parent, "d%d" % i, paths=["a/*"])
        parent = "d%d" % i
    repo.add_target("a/deep", b"deep", role=parent)
    for i in range(depth):
        repo.publish("d%d" % i)
    repo.publish_targets()
    pair = Pair(repo, tmp_path)
    _, info = pair.ask("a/deep")
    assert (info is not None) == (depth <= tuf.MAX_DELEGATIONS)
    if depth > tuf.MAX_DELEGATIONS:
        with pytest.raises(tuf.TooManyRoles):
            tufclient.find_targets(pair.dev, pair.fetch, pair.store, "a/")
    else:
        assert sorted(tufclient.find_targets(pair.dev, pair.fetch, pair.store, "a/")) == ["a/deep"]


@pytest.mark.parametrize("where", [30, 31, 32, 33])
def test_many_sibling_roles_over_the_limit(tmp_path, where):
    repo = Repo()
    for i in range(36):
        repo.delegate("targets", "s%d" % i, paths=["a/*"], signers=_signers("sib"))
    repo.add_target("a/x", b"x", role="s%d" % where)
    for i in range(36):
        repo.publish("s%d" % i)
    repo.publish_targets()
    pair = Pair(repo, tmp_path)
    assert (pair.ask("a/x")[1] is not None) == (where < tuf.MAX_DELEGATIONS)


@pytest.mark.parametrize("bins", [16, 256])
def test_hashed_bins(tmp_path, bins):
    """16 bins as path_hash_prefixes roles (one hex digit each); 256 as TAP 15 succinct roles
    (256 roles listed one by one would put targets over the device's 12 KiB cap)."""
    repo = Repo(hashes=bins == 16)  # 256 snapshot entries fit the device's cap only without hashes
    if bins == 16:
        signer = _signers("bins")
        for i in range(16):
            repo.delegate("targets", "bin-%x" % i, prefixes=["%x" % i], signers=signer)
        names = ["bin-%x" % i for i in range(16)]
    else:
        names = list(repo.delegate_bins("targets", "bin", 8).get_roles())
    paths = ["pkg/file-%d" % i for i in range(40)]
    owners = {}
    for path in paths:
        digest = delegations.path_digest(path)
        owner = "bin-%x" % (digest[0] >> 4) if bins == 16 else "bin-%02x" % digest[0]
        repo.add_target(path, path.encode(), role=owner)
        owners[path] = owner
    for name in names:
        repo.publish(name)
    repo.publish_targets()
    pair = Pair(repo, tmp_path)
    for path in paths[:12] + ["pkg/absent"]:
        pair.ask(path)
    for path in paths[:12]:
        assert owners[path] in pair.store  # fetched, stored under its name
    if bins == 256:
        with pytest.raises(tuf.TooManyRoles):  # a directory search would fetch every bin
            tufclient.find_targets(pair.dev, pair.fetch, pair.store, "pkg/")
    else:
        assert sorted(tufclient.find_targets(pair.dev, pair.fetch, pair.store, "pkg/")) == sorted(paths)


def test_256_bins_listed_one_by_one_are_over_the_devices_cap(tmp_path):
    repo = Repo(hashes=False)
    signer = _signers("bins")
    for i in range(256):
        repo.delegate("targets", "bin-%02x" % i, prefixes=["%02x" % i], signers=signer)
    repo.publish_targets()
    assert len(repo.published["targets"][-1]) > tuf.TARGETS_MAX
    trusted = tuf.TrustedSet(repo.published["root"][0], unix(NOW))
    with pytest.raises(tuf.TooLarge):
        tufclient.refresh(trusted, device_fetch(repo), DictStore())


@pytest.mark.parametrize("name", ["a b", "x/y", "ünï", "50%", "..", "a.b.c", "?", "#", "/delegatedrole", "../delegatedrole"])
def test_role_names_that_need_quoting(tmp_path, name):
    repo = Repo(consistent_snapshot=name != "a.b.c")
    repo.delegate("targets", name, paths=["a/*"])
    repo.add_target("a/x", b"x", role=name)
    repo.publish(name)
    repo.publish_targets()
    pair = Pair(repo, tmp_path)
    repo.requests.clear()
    fresh = Pair(repo, tmp_path, "fresh")
    assert fresh.ask("a/x")[1]["length"] == 1
    version = "1." if repo.root.consistent_snapshot else ""
    assert repo.requests == [] and fresh.store[name] == repo.published[name][-1]
    assert tuf.metadata_path(name, 1 if version else None) == version + quote(name, "") + ".json"


def test_the_device_fixture_is_what_its_generator_builds():
    import make_tuf_delegation_data as gen

    built = gen.build()
    fix = "run python tests/make_tuf_delegation_data.py"
    assert sorted(p.name for p in gen.DATA_DIR.iterdir()) == sorted(built), fix
    for name, data in built.items():
        assert (gen.DATA_DIR / name).read_bytes() == data, "%s is stale: %s" % (name, fix)
