"""Build the delegated-targets repository files the device tests read
(tests/device/data/tuf_delegations/), and what python-tuf's ngclient answers on them.

Made with python-tuf's Metadata API (tests/tufrepo.py: fixed keys and dates, deterministic
signatures), so every run writes the same bytes; tests/test_tuf_delegations_oracle.py rebuilds
them and compares with the committed files. Run `python tests/make_tuf_delegation_data.py` after
changing the story below.

The repository (consistent snapshots), top-level targets delegating, in this order:
  esp32-4mb        esp32-4mb/*/*, terminating; it lists stable images, one path outside its
                   paths (not trusted), and delegates esp32-4mb/beta/* to "esp32-4mb/beta" (a
                   name that needs quoting)
  chips            esp32/*/* and esp32s3/*/*: chip-wide images
  legacy           */*/*: a catch-all whose esp32-4mb entry the terminating delegation hides
  bins 0-7, 8-f    hashed (path_hash_prefixes), names with spaces: misc/ files
Three states: A (all version 1), B (a new esp32-4mb image: that role, snapshot and timestamp
move on), C (targets rotates the esp32-4mb key; the role is re-signed). Files are named as the
repository serves them, `timestamp.json` once per state (`A.timestamp.json`...). A second
repository (`deep.`) chains 34 roles, one past the search limit.
`expected.json`: ngclient's answer per state for PATHS (target info or null) and, per directory
of DIRECTORIES, the targets in it (each path asked alone), the reference time, the file names;
and `fnmatch`: [name, pattern, fnmatch.fnmatchcase(name, pattern)] for seeded random patterns
(sets, ranges, negation, unclosed brackets), which python-tuf's path matching rests on.
"""

import json
import sys
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent))

from tuf.api import exceptions  # noqa: E402
from tuf.ngclient import Updater  # noqa: E402
from tuf.ngclient.fetcher import FetcherInterface  # noqa: E402

from mpboot import keys  # noqa: E402
from mpboot_fw.delegations import path_digest  # noqa: E402
from tufrepo import NOW, Repo, fixed_key, unix  # noqa: E402

DATA_DIR = Path(__file__).resolve().parent / "device" / "data" / "tuf_delegations"
PATHS = ["esp32-4mb/stable/1.0.0.mpb", "esp32-4mb/stable/1.1.0.mpb", "esp32-4mb/stable/0.9.0.mpb",
         "esp32-4mb/beta/2.0.0-rc.1.mpb", "esp32/stable/1.0.5.mpb", "esp32s3-8mb/stable/9.9.9.mpb",
         "esp32c3-4mb/stable/1.0.0.mpb", "misc/a", "misc/b", "misc/c", "misc/absent", "esp32-4mb/stable/absent"]
DIRECTORIES = ["esp32-4mb/stable/", "esp32-4mb/beta/", "esp32/stable/", "esp32s3-8mb/stable/", "misc/"]
DEEP = 34


def _image(repo, role, path):
    board, channel, name = path.split("/")
    custom = {"board": board if "-" in board else "", "chip_id": 9 if board.startswith("esp32s3") else 0,
              "channel": channel, "version": name[:-4], "security_version": 1}
    repo.add_target(path, ("image " + path).encode(), custom, role=role)


def story():
    """[(state name, the files served then {path under metadata/: bytes})], and the repository."""
    repo = Repo()
    repo.delegate("targets", "esp32-4mb", paths=["esp32-4mb/*/*"], terminating=True)
    repo.delegate("targets", "chips", paths=["esp32/*/*", "esp32s3/*/*"])
    repo.delegate("targets", "legacy", paths=["*/*/*"])
    repo.delegate("targets", "bins 0-7", prefixes=list("01234567"))
    repo.delegate("targets", "bins 8-f", prefixes=list("89abcdef"))
    repo.delegate("esp32-4mb", "esp32-4mb/beta", paths=["esp32-4mb/beta/*"])
    _image(repo, "esp32-4mb", "esp32-4mb/stable/1.0.0.mpb")
    _image(repo, "esp32-4mb", "esp32s3-8mb/stable/9.9.9.mpb")  # outside its paths
    _image(repo, "esp32-4mb/beta", "esp32-4mb/beta/2.0.0-rc.1.mpb")
    _image(repo, "chips", "esp32/stable/1.0.5.mpb")
    _image(repo, "legacy", "esp32-4mb/stable/0.9.0.mpb")  # hidden by the terminating esp32-4mb
    _image(repo, "legacy", "esp32c3-4mb/stable/1.0.0.mpb")
    for name in ("misc/a", "misc/b", "misc/c"):
        repo.add_target(name, name.encode(), role="bins 0-7" if path_digest(name)[0] < 0x80 else "bins 8-f")
    for role in ("esp32-4mb/beta", "esp32-4mb", "chips", "legacy", "bins 0-7", "bins 8-f"):
        repo.publish(role)
    repo.publish_targets()
    states = [("A", _served(repo))]
    _image(repo, "esp32-4mb", "esp32-4mb/stable/1.1.0.mpb")
    repo.publish("esp32-4mb")
    repo.update_snapshot()
    states.append(("B", _served(repo)))
    new = fixed_key("esp32-4mb rotated")
    delegations = repo.targets.delegations
    [old_id] = delegations.roles["esp32-4mb"].keyids
    del delegations.keys[old_id]
    new_key = keys.tuf_key(new.public_key())
    delegations.keys[new_key.keyid] = new_key
    delegations.roles["esp32-4mb"].keyids = [new_key.keyid]
    repo.signers["esp32-4mb"] = [new]
    repo.publish("esp32-4mb")
    repo.publish_targets()
    states.append(("C", _served(repo)))
    return states, repo


def _served(repo):
    """The files the repository serves now, by path under metadata/."""
    files = {"1.root.json": repo.published["root"][0], "timestamp.json": repo.published["timestamp"][-1]}
    for role in repo.targets_roles() + ["snapshot"]:
        for version, data in enumerate(repo.published[role], 1):
            files["%d.%s.json" % (version, quote(role, ""))] = data
    return files


def deep():
    repo = Repo()
    parent = "targets"
    for i in range(DEEP):
        repo.delegate(parent, "d%d" % i, paths=["deep/*"], signers=[fixed_key("deep")])
        parent = "d%d" % i
    repo.add_target("deep/x", b"x", role=parent)
    for i in range(DEEP):
        repo.publish("d%d" % i)
    repo.publish_targets()
    return _served(repo)


class _Fetcher(FetcherInterface):
    """ngclient's fetcher over {path under metadata/: bytes}."""

    def __init__(self, files):
        self.files = files

    def _fetch(self, url):
        data = self.files.get(url[len("http://repo/metadata/"):])
        if data is None:
            raise exceptions.DownloadHTTPError("not found", 404)
        return iter([data])


def _ngclient_answers(files, tmp):
    def updater(name):
        d = tmp / name
        d.mkdir(parents=True)
        u = Updater(str(d), "http://repo/metadata/", fetcher=_Fetcher(files), bootstrap=files["1.root.json"])
        u._trusted_set.reference_time = NOW
        u.refresh()
        return u

    u = updater("paths")
    paths = {}
    for path in PATHS:
        info = u.get_targetinfo(path)
        paths[path] = None if info is None else info.to_dict()
    directories = {}
    for directory in DIRECTORIES:
        u = updater("dir-" + quote(directory, ""))
        found = {}
        for path in PATHS:
            if path.startswith(directory) and "/" not in path[len(directory):]:
                info = u.get_targetinfo(path)
                if info is not None:
                    found[path] = info.to_dict()
        directories[directory] = found
    return {"paths": paths, "directories": directories}


def fnmatch_cases(n=300, seed=7):
    import fnmatch
    import random

    rng = random.Random(seed)
    cases = []
    while len(cases) < n:
        pattern = "".join(rng.choice("[[]]-!abz*?^.") for _ in range(rng.randint(0, 7)))
        name = "".join(rng.choice("abz-!^[].") for _ in range(rng.randint(0, 5)))
        if rng.random() < 0.5:  # a name made from the pattern, so that many do match
            name = "".join(rng.choice(("", "a", "zb")) if c == "*" else "b" if c == "?" else c for c in pattern)
        try:
            cases.append([name, pattern, fnmatch.fnmatchcase(name, pattern)])
        except Exception:  # noqa: BLE001 - a pattern re refuses (a range going down): not a case
            continue
    return cases


def build():
    """{file name: bytes} of the fixture directory."""
    import tempfile

    states, _ = story()
    out = {}
    expected = {"now": unix(NOW), "states": {}, "fnmatch": fnmatch_cases()}
    with tempfile.TemporaryDirectory() as tmp:
        for name, files in states:
            for path, data in files.items():
                if path == "timestamp.json":
                    out[name + ".timestamp.json"] = data
                else:
                    assert out.setdefault(path, data) == data, path
            expected["states"][name] = dict(_ngclient_answers(files, Path(tmp) / name),
                                            files=sorted(files))
        for path, data in deep().items():
            out["deep." + path] = data
    out["expected.json"] = json.dumps(expected, sort_keys=True, indent=1).encode() + b"\n"
    return out


def main():
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    built = build()
    for stale in DATA_DIR.iterdir():
        if stale.name not in built:
            stale.unlink()
    for name, data in built.items():
        (DATA_DIR / name).write_bytes(data)
    print("wrote %d files to %s" % (len(built), DATA_DIR))


if __name__ == "__main__":
    main()
