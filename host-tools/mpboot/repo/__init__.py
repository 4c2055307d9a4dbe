"""The update repository: TUF metadata made with python-tuf's Metadata API, as plain static files.

Layout (what a web server or bucket serves; see docs/repository.md):

    DIR/metadata/1.root.json, 2.root.json ...   every root version, kept for rotation
    DIR/metadata/root.json                      copy of the newest root (the devices' trust anchor)
    DIR/metadata/timestamp.json                 the only mutable file clients fetch
    DIR/metadata/N.snapshot.json, N.targets.json
    DIR/targets/<board>/<channel>/<sha256>.<version>.mpb
    DIR/mpboot-repo.json                        settings (lifetimes, key file paths); not served

Consistent snapshots throughout, with python-tuf ngclient's URL scheme, so any TUF client reads it.
What the repository currently *is* follows the chain timestamp -> snapshot -> targets, never
"the highest file number": files a crashed command wrote before it reached timestamp.json are
unreferenced and are overwritten by the next command. Every change is signed in memory first
and then written target files, root, targets, snapshot, timestamp, in that order, so a client
never finds a name that points at a file not yet written.

Modules: `layout` (paths, bytes on disk), `settings`, `keyring` (signing keys), `store` (current
state and ordered commits), `create`, `publish`, `maintain` (timestamp, renew, rotate), `status`.
"""
