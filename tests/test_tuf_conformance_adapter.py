"""The tuf-conformance client adapter (mpboot.tufclient_cli), run as the suite runs it: a separate
process per command, against a repository made with python-tuf and served over plain HTTP on
127.0.0.1, judged by exit code, the metadata it keeps, the targets it stores and the requests
it makes. Scenarios follow the suite's (test_basic, test_file_download, test_rollback...).
"""

import json
import subprocess
import sys
import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, unquote

import pytest

from tufrepo import Repo, fixed_key


class Server:
    """Serves repo.fetch() at /metadata/... and /targets/...; 404 for anything it lacks."""

    def __init__(self, repo):
        self.repo = repo
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                data = server.repo.fetch(unquote(self.path.lstrip("/")))
                if data is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class Client:
    def __init__(self, tmp_path, server):
        self.server = server
        self.metadata_dir = tmp_path / "metadata"
        self.target_dir = tmp_path / "targets"
        self.metadata_dir.mkdir()
        self.target_dir.mkdir()
        self.root_file = tmp_path / "initial_root.json"
        self.stderr = ""

    def run(self, *args):
        cmd = [sys.executable, "-m", "mpboot.tufclient_cli", "--metadata-dir", str(self.metadata_dir), *args]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        self.stderr = done.stderr
        return done.returncode

    def init(self, root_bytes):
        self.root_file.write_bytes(root_bytes)
        return self.run("init", str(self.root_file))

    def refresh(self):
        return self.run("--metadata-url", self.server.url + "/metadata", "refresh")

    def download(self, *names):
        args = []
        for name in names:
            args += ["--target-name", name]
        return self.run("--metadata-url", self.server.url + "/metadata", *args, "--target-dir", str(self.target_dir),
                        "--target-base-url", self.server.url + "/targets", "download")

    def stored(self, role):
        return (self.metadata_dir / (role + ".json")).read_bytes()

    def version(self, role):
        return json.loads(self.stored(role))["signed"]["version"]

    def targets(self):
        return {p.name: p.read_bytes() for p in self.target_dir.iterdir()}


@pytest.fixture
def repo():
    # The adapter reads the real clock, as the suite's clients do: date the repository from it.
    return Repo(compact=False, now=datetime.now(timezone.utc).replace(microsecond=0))


@pytest.fixture
def server(repo):
    s = Server(repo)
    yield s
    s.close()


@pytest.fixture
def client(tmp_path, server):
    return Client(tmp_path, server)


def test_init_and_refresh(client, repo):
    assert client.init(repo.published["root"][0]) == 0
    assert repo.requests == []
    assert client.refresh() == 0, client.stderr
    assert repo.requests == ["metadata/2.root.json", "metadata/timestamp.json", "metadata/1.snapshot.json",
                             "metadata/1.targets.json"]
    for role in ("root", "timestamp", "snapshot", "targets"):
        assert client.stored(role) == repo.published[role][-1]


def test_console_script_with_options_in_any_order(client, repo):
    client.root_file.write_bytes(repo.published["root"][0])
    assert client.run("init", str(client.root_file)) == 0
    # the executable the suite is given (installed by `pip install -e .` from pyproject.toml)
    cmd = [str(Path(sys.executable).parent / "mpboot-tuf-client"), "refresh", "--metadata-url", client.server.url + "/metadata",
           "--metadata-dir", str(client.metadata_dir)]
    assert subprocess.run(cmd, capture_output=True, timeout=120).returncode == 0


def test_invalid_initial_root_fails_without_requests(client, repo):
    doc = json.loads(repo.published["root"][0])
    doc["signatures"][0]["sig"] = "00" * 64
    client.init(json.dumps(doc).encode())
    assert client.refresh() == 1
    assert "BadSignature" in client.stderr
    assert repo.requests == []


def test_download_and_cache(client, repo):
    repo.add_target("path/to/a file.txt", b"target file contents")
    repo.add_target("other.txt", b"other")
    repo.publish_targets()
    client.init(repo.published["root"][0])
    assert client.download("path/to/a file.txt") == 0, client.stderr
    assert client.targets() == {quote("path/to/a file.txt", ""): b"target file contents"}
    # already stored with matching hashes: no target request this time
    repo.requests.clear()
    assert client.download("path/to/a file.txt") == 0
    assert [r for r in repo.requests if r.startswith("targets/")] == []
    # the repository substitutes both files: the new download fails, nothing malicious is kept
    repo.artifacts["path/to/a file.txt"] = b"malicious"
    repo.artifacts["other.txt"] = b"malicious"
    assert client.download("other.txt") == 1
    assert "LengthOrHashMismatch" in client.stderr
    assert client.targets() == {quote("path/to/a file.txt", ""): b"target file contents"}


def test_download_of_an_unknown_target_fails_after_refreshing(client, repo):
    client.init(repo.published["root"][0])
    assert client.download("nonexistent artifact") == 1
    assert client.version("targets") == 1


def test_endless_target_is_cut_at_its_length(client, repo):
    repo.add_target("t.bin", b"12345")
    repo.publish_targets()
    repo.artifacts["t.bin"] = b"12345" + b"x" * 100000
    client.init(repo.published["root"][0])
    assert client.download("t.bin") == 1
    assert client.targets() == {}


def test_timestamp_rollback_is_refused(client, repo):
    client.init(repo.published["root"][0])
    repo.update_timestamp()
    assert client.refresh() == 0
    repo.published["timestamp"].pop()  # the server goes back to timestamp v1
    assert client.refresh() == 1
    assert "Rollback" in client.stderr
    assert client.version("timestamp") == 2


def test_equal_timestamp_version_keeps_the_stored_one(client, repo):
    client.init(repo.published["root"][0])
    assert client.refresh() == 0
    stored = client.stored("timestamp")
    repo.timestamp.snapshot_meta.version = 100
    repo.publish("timestamp", bump=False)
    assert client.refresh() == 0
    assert client.stored("timestamp") == stored


def test_expired_timestamp_is_refused(client, repo):
    client.init(repo.published["root"][0])
    assert client.refresh() == 0
    repo.timestamp.expires = repo.now - timedelta(seconds=1)
    repo.update_timestamp()
    assert client.refresh() == 1
    assert "Expired" in client.stderr
    assert client.version("timestamp") == 1


def test_root_rotation_updates_root_json(client, repo):
    client.init(repo.published["root"][0])
    old, new = repo.signers["root"][0], fixed_key("root-2")
    repo.remove_key("root", old)
    repo.add_key("root", new)
    repo.publish("root", signers=[old, new])
    repo.publish("root")
    assert client.refresh() == 0, client.stderr
    assert client.stored("root") == repo.published["root"][-1]
    assert client.version("root") == 3


def test_targets_hash_mismatch_keeps_trusted_metadata(client, repo):
    client.init(repo.published["root"][0])
    assert client.refresh() == 0
    repo.targets.version += 1
    data = repo.sign("targets")
    repo.published["targets"].append(data)
    repo.snapshot.meta["targets.json"].version = repo.targets.version  # hashes still of v1
    repo.publish("snapshot")
    repo.update_timestamp()
    assert client.refresh() == 1
    assert "LengthOrHashMismatch" in client.stderr
    assert client.version("targets") == 1


def test_usage_errors_exit_1(client):
    assert client.run("refresh") == 1
    assert "--metadata-url" in client.stderr
    assert client.run("--metadata-url", "http://127.0.0.1:9/metadata", "refresh") == 1
    assert "root.json" in client.stderr


def test_delegated_targets_through_the_search(client, repo):
    # as the suite's delegation tests: the target is found by the pre-order depth-first search,
    # delegated metadata is stored as ROLE.json (the name URL-quoted, as python-tuf stores it),
    # and a role a terminating delegation hides is never fetched
    repo.delegate("targets", "role a/1", paths=["a/*"], terminating=True)
    repo.delegate("targets", "b", paths=["a/*", "b/*"])
    repo.delegate("role a/1", "c", paths=["a/c*"])
    repo.add_target("a/c.txt", b"from c", role="c")
    repo.add_target("a/hidden.txt", b"b may not serve a/", role="b")
    repo.add_target("b/x.txt", b"from b", role="b")
    for role in ("c", "role a/1", "b"):
        repo.publish(role)
    repo.publish_targets()
    client.init(repo.published["root"][0])
    repo.requests.clear()
    assert client.download("a/c.txt") == 0, client.stderr
    assert [r for r in repo.requests if r.startswith("metadata/1.")] == [
        "metadata/1.role a/1.json", "metadata/1.c.json"]  # the server's log, unquoted
    assert client.stored(quote("role a/1", "")) == repo.published["role a/1"][-1]
    assert client.stored("c") == repo.published["c"][-1]
    assert client.targets() == {quote("a/c.txt", ""): b"from c"}
    assert client.download("a/hidden.txt") == 1 and "not in the trusted targets" in client.stderr
    assert not (client.metadata_dir / "b.json").exists()
    assert client.download("b/x.txt") == 0, client.stderr
    assert client.stored("b") == repo.published["b"][-1]
    # a delegated role signed by a key its delegator does not trust: refused
    repo.add_target("b/y.txt", b"forged", role="b")
    repo.publish("b", signers=[fixed_key("attacker")])
    repo.update_snapshot()
    assert client.download("b/y.txt") == 1 and "BadSignature" in client.stderr


# (delegator, role, terminating, paths) in the order added, and the roles a search for a path no
# role lists must fetch, in order: the suite's delegation-graph scenarios.
GRAPHS = {
    "dfs order": ([("targets", "A", False, ["*"]), ("targets", "B", False, ["*"]), ("A", "C", False, ["*"]),
                   ("A", "D", False, ["*"])], ["A", "C", "D", "B"]),
    "terminating keeps to its subtree": ([("targets", "A", False, ["*"]), ("targets", "B", False, ["*"]),
                                          ("A", "C", True, ["*"]), ("C", "D", False, ["*"])], ["A", "C", "D"]),
    "unmatched branch skipped": ([("targets", "A", False, ["*.py"]), ("targets", "B", False, ["*"]),
                                  ("A", "C", False, ["*"])], ["B"]),
    "cycle": ([("targets", "A", False, ["*"]), ("targets", "B", False, ["*"]), ("B", "C", False, ["*"]),
               ("C", "D", False, ["*"]), ("D", "B", False, ["*"])], ["A", "B", "C", "D"]),
    "a role reached twice": ([("targets", "A", False, ["*"]), ("targets", "B", False, ["*"]),
                              ("B", "C", False, ["*"]), ("A", "C", False, ["*"])], ["A", "C", "B"]),
}


@pytest.mark.parametrize("graph", sorted(GRAPHS))
def test_delegation_graphs_are_searched_in_order(client, repo, graph):
    edges, visited = GRAPHS[graph]
    for parent, role, terminating, paths in edges:
        if role in repo.md:
            repo.delegate_existing(parent, role, paths, terminating)
        else:
            repo.delegate(parent, role, paths=paths, terminating=terminating)
    for role in repo.targets_roles():
        if role != "targets":
            repo.publish(role)
    repo.publish_targets()
    client.init(repo.published["root"][0])
    repo.requests.clear()
    assert client.download("missingpath") == 1
    assert [r[len("metadata/1."):-5] for r in repo.requests if r.startswith("metadata/1.")] == visited
