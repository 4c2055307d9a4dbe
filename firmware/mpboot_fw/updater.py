"""Over-the-air updates: ask the update repository (TUF) whether a newer image or a newer version of
an installed bundle exists, download it straight into the inactive slot or copy, and install it
exactly as a manual install does.

    from mpboot_fw import updater
    updater.check()     # "current", or "pending"; an install resets into its trial boot
    updater.status()    # for the application: is the device stale or its metadata expired?

One check (docs/updater.md walks through it):
1. Time: one reference time, the clock but never below the state's time floor (tuftime).
2. Metadata: tufclient.refresh from the stored root over HTTPS (fetch.Fetcher with the CA and
   credentials of otaconfig); accepted metadata goes to the state log (tufstore: exact bytes,
   old set or new set after any power cut). A full, fresh set raises the time floor to the
   reference time, the only value safe to raise it to (tuf.TrustedSet.safe_time_floor).
3. Choice: the targets in this board's and this chip's directory for the configured channel
   (`esp32-4mb/stable/`, `esp32/stable/`: tufclient.find_targets, which fetches only the
   delegated roles on that way, before the metadata is stored), then tufclient.find_image among
   them: newer than the running image, security version not below the floor, small enough for
   the inactive slot.
4. Download: in 4 KiB blocks through install.SlotWriter into the inactive slot (install.claim
   first: otadata must not select a slot while it is written), each block hashed against the
   TUF hashes on its way (tuf.FileCheck: never a byte past the TUF length); resumed with a
   Range request after an interruption, restarted on a 200 (fetch.py).
5. Install: the manifest in flash must say what the metadata said (version, security version,
   chip, board); then install.commit (verify_slot against the newest root, pending record,
   set_boot) and a reset; the boot stage runs the trial boot and confirms or rolls back.

Bundles (docs/updater.md, "Bundles"): the same check covers every installed bundle
(bundlestore.installed(), mpboot first). When no image is to be installed, the first bundle with
an update (tufclient.find_bundle: its floor, the active copy's version, the firmware's .mpy
version and version) is installed: its manifest target fetched and checked against the TUF entry
(tuf.target_check), then bundlestore.install reads bundlefetch.Stream (files from the active
copy where their hash is unchanged, the rest from files/sha256/<hex>). One install per check;
none while an install waits for its boot or a trial (firmware or bundle) runs. Then a reset
(reset=False: "bundle-installed"); the next boot is the bundle's trial.

Each check leaves one event in the state log: "ota-current" (nothing newer), "ota-refused"
(metadata or image failed a check: the reason names it), "ota-error" (network, repository or
flash trouble), "ota-download" then "installed" for an update, "ota-bundle" (reason "chosen", then
"installed") for a bundle's, "ota-revoked" when a new root no longer trusts the running image
and nothing newer is there, and after a failure "ota-stale" when no check has succeeded for
`stale_after` seconds or the stored metadata has expired. A bundle install that fails logs
"ota-refused" or "ota-error" as an image's does, its detail starting with the bundle's name.
"""

import sys

from mpboot_fw import loading

with loading():
    from mpboot_fw import bundledir, context, image, install, otaconfig, slots, tuf, tufclient, tufstore, tuftime
    from mpboot_fw import version as versions
    from mpboot_fw.trust import TrustError

_FAILED = ("ota-refused", "ota-error")


class UpdateError(Exception):
    """A check that failed; `code` is "ota-refused" or "ota-error", `reason` the failed check."""

    def __init__(self, code, reason, detail=None):
        super().__init__("%s %s %s" % (code, reason, detail or ""))
        self.code = code
        self.reason = reason
        self.detail = detail


def check(reset=True, clock=None, path=otaconfig.PATH, ctx=None, options=None, progress=None):
    """One update check (see the module docstring). Returns "current" (nothing newer),
    "pending" (an install awaits its reset, or a bundle's its next boot) or "revoked" (see
    status()); after an install it resets (with reset=False it returns "installed" for an image,
    "bundle-installed" for a bundle, whose trial the next boot starts). Raises UpdateError after
    logging why the check failed.

    clock: returns the time in Unix seconds (default: the RTC, tuftime.unix_time). options:
    fetch.Fetcher settings over the configured ones (window_ms, retries, attempts, backoff_ms...).
    progress: called as progress(bytes written, total) after each 4 KiB block of a download
    (for a display: keep it short, it runs between blocks)."""
    update = Update(clock, path, ctx, options, progress)
    for _ in update.steps(reset):
        pass
    return update.outcome


def status(clock=None, path=otaconfig.PATH, ctx=None):
    """What the application should know about updates, from the state log (no network):

    ok: neither stale nor expired. stale: no check succeeded for stale_after seconds (a freeze
    or denial of service, or no network). expired: the stored metadata expired (no update can
    be trusted until a check succeeds). revoked: the last check found that the running image is
    signed by keys a new root dropped (the boot stage will refuse it; an update signed by the
    current keys must be published). clock_behind: the clock is behind the time floor
    (unset or set back), so time-based judgements use the floor. fresh_at: when the last
    successful check verified fresh metadata (the time floor). expires: the earliest expiry of
    the stored metadata (None: never refreshed). failures: failed checks since the last good
    one. last: the last updater event (boot, code, reason, detail) or None."""
    ctx = ctx or context.load()
    try:
        stale_after = otaconfig.load(path).stale_after
    except otaconfig.OtaConfigError:
        stale_after = otaconfig.OtaConfig().stale_after
    state = ctx.state
    clock_now = (clock or tuftime.unix_time)()
    fresh = state.time_floor
    now = tuftime.reference_time(clock_now, fresh)
    expires = tufstore.stored(state).expires
    last, failures = _history(state)
    stale = now - fresh > stale_after
    expired = expires is not None and now >= expires
    revoked = last is not None and last[1] == "ota-revoked"
    return {"ok": not (stale or expired or revoked), "stale": stale, "expired": expired, "revoked": revoked,
            "clock_behind": clock_now < fresh,
            "fresh_at": fresh, "expires": expires, "failures": failures, "last": last}


class Update:
    """One check, as a generator of steps (`steps()`), so a caller can pause between them."""

    def __init__(self, clock=None, path=otaconfig.PATH, ctx=None, options=None, progress=None):
        self.clock = clock or tuftime.unix_time
        self.path = path
        self.ctx = ctx
        self.options = options or {}
        self.progress = progress
        self.documents = self.block = None  # (_buffers)
        self.writer = None
        self.outcome = None
        self.fetch = None  # mpboot_fw.fetch, imported by a check (status() needs no socket or ssl)
        self.fetcher = None
        self.url = None
        self.where = None  # the repository path being fetched, for the log
        self.trusted = self.store = None
        self.directories = ()  # where this device's images are published (tufclient.directories)
        self.found = None  # {path: entry} found there
        self.choice = None  # (path, entry) chosen among them, or None
        self.bundles = ()  # [(name, active copy or None)] installed
        self.candidates = ()  # [(name, active copy, path, entry)]: each bundle's newest release
        self.bundle = None  # (name, active copy, current version, path, entry) chosen, or None
        self.kept = None  # the chosen bundle's active copy's manifest, unverified (bundlefetch.kept)
        self.stream = None  # the bundle install's bundlefetch.Stream

    def steps(self, reset=True):
        """Run the check, yielding the name of each step done. Sets `outcome`."""
        try:
            yield from self._steps(reset)
        except Exception as e:
            self.documents = self.block = None  # (_buffers) their room, to log the failure in
            raise self._failed(e)

    def _steps(self, reset):
        # The trusted metadata is only ever touched in the helper methods, never in this
        # generator's own frame: a value a generator once pushed stays in its saved stack
        # slots, which the collector scans, so the parsed targets would outlive the choice.
        if self.ctx is None:
            self.ctx = context.load()
        ctx = self.ctx
        running = slots.running()
        # A health check that runs the updater: refused before any network traffic, as the
        # install would be refused after it (install.claim).
        pending = install.refuse_during_trial(ctx, running)
        if pending is not None and slots.label(slots.boot()) == pending["slot"]:
            self.outcome = "pending"  # installed already: it waits for its reset
            return
        self._buffers()
        if not self._installed_bundles():
            self.outcome = "pending"  # a bundle's install waits for the boot that starts its trial
            return
        self._start(running)
        yield "start"
        try:
            for i in range(len(tufclient.STEPS)):
                self._refresh(i)
                yield "metadata"
            for i in range(len(self.directories)):
                self._search(i)
                yield "metadata"
        finally:
            self._commit()
        ctx.state.raise_time(self._safe_time_floor())
        yield "stored"
        if not self._choose():
            return
        yield "chosen"
        if self.bundle is not None:
            self._bundle_manifest()
            yield "manifest"
            self._bundle_install()
            self.outcome = "bundle-installed"
            yield "installed"
            if reset:
                import machine

                machine.reset()
            return
        slot = slots.other(running)
        install.claim(ctx, running, slot)
        self.writer = install.SlotWriter(slot)
        try:
            written, buf = self._download()
            yield "downloaded"
            _check_manifest(image.read_manifest(slot, written), self.entry["custom"], self.chip_id, self.board)
            install.commit(ctx, slot, written, buf)
        except BaseException:
            # Whatever reached the slot was not installed (refused, cut short, or the check was
            # abandoned): it must never be what a bootloader fallback boots, as for a manual
            # install. A slot nothing was written to keeps what it held.
            if self.writer.written:
                install.discard(slot)
            raise
        self.outcome = "installed"
        yield "installed"
        if reset:
            import machine

            machine.reset()

    def _buffers(self):
        """The check's long-lived blocks, first: the one every metadata document is read into
        (tuf.DocumentBuffer) and the fetcher's (fetch.BLOCK unless the options say), before
        the bundle code is imported and let go again, the fetch module imported and the TLS
        context made: each leaves survivors spread over the heap (the collector never moves
        objects). Made after them, 12 KiB or 4 KiB found no hole in heaps the rest of the
        check fits in. Measured on the ROMFS board, a whole update's smallest heap: 163-165
        KiB made after, 160-161 here, 165 made before the context is loaded (which then
        splits the hole they leave)."""
        self.documents = tuf.DocumentBuffer()
        self.block = bytearray(self.options.get("block", 4096))

    def _start(self, running):
        """Settings, the fetcher, what runs, the reference time, and the stored root."""
        with loading():
            from mpboot_fw import fetch

        ctx = self.ctx
        cfg = otaconfig.load(self.path)
        self.url = cfg.url
        settings = {"timeout_ms": cfg.timeout_ms, "min_rate": cfg.min_rate}
        settings.update(self.options)
        self.fetch = fetch
        self.fetcher = fetch.Fetcher(_read_file(cfg.ca), cfg.cert, cfg.key, cfg.token, buf=self.block, **settings)
        self.block = None
        self.running = running
        # Of the running image's manifest only its version is kept (the rest, signatures and
        # segments, would be 1.5 KB more through the refresh).
        current = image.read_manifest(running)
        self.running_version = current.version
        self.chip_id = current.chip_id if ctx.cfg.chip_id is None else ctx.cfg.chip_id
        self.board = current.board if ctx.cfg.board is None else ctx.cfg.board
        state = ctx.state
        self.root_version = state.root_version
        self.directories = tufclient.directories(self.chip_id, self.board, ctx.cfg.channel)
        self.found = {}
        # Scoped: each targets role keeps only what a search of these directories needs. The
        # context's root is the state's (a check that stored a rotation and then failed left
        # an older one: the version tells, and the bytes are parsed then).
        self.trusted = tuf.TrustedSet(state.root(), tuftime.reference_time(self.clock(), state.time_floor),
                                      scope=tuple(self.directories), parsed=ctx.root)
        self.store = tufstore.Store(state, self.trusted)

    def _refresh(self, i):
        tufclient.STEPS[i](self.trusted, self._fetch_metadata, self.store)

    def _search(self, i):
        self.found.update(tufclient.find_targets(self.trusted, self._fetch_metadata, self.store, self.directories[i]))
        if i == len(self.directories) - 1:
            self._select()

    def _select(self):
        """Choose among what the searches found before the store writes, and let the entries of
        the delegated roles go: they are the searches' working set (for a role per board, the
        largest thing on the heap). Top-level targets goes with the trusted set, in _choose."""
        ctx = self.ctx
        if not self.bundles:
            # The check's last fetch, and no manifest to read after it: the choice and the
            # commit have its room.
            self.documents = None
        targets = {"targets": self.found}
        failed = _failed_trials(ctx.state)
        self.choice = tufclient.find_image(targets, self.chip_id, self.board, ctx.cfg.channel,
                                           ctx.state.floor, self.running_version, slots.other(self.running).info()[3],
                                           failed.get(None, ()))
        if self.choice is None:
            # An image first (a newer bundle may need it). Each bundle's newest release this
            # firmware can run: whether it is newer than what runs is read in _choose, once the
            # trusted metadata is gone (find_bundle's newest overall, when newer than the active
            # copy, is also its newest among those newer).
            mpy = getattr(sys.implementation, "_mpy", None)
            out = []
            for name, copy in self.bundles:
                found = tufclient.find_bundle(targets, name, ctx.cfg.channel, self.board, self.chip_id,
                                              ctx.state.bundle_floor(name), None, mpy, self.running_version,
                                              failed.get(name, ()))
                if found is not None:
                    out.append((name, copy) + tuple(found))
            self.candidates = out
        self.found = targets = None
        self.trusted.release_delegated_targets()

    def _commit(self):
        if not self.candidates:
            # No bundle manifest to read into it (_choose_bundle), or a check that failed
            # before its last search: the commit has its room.
            self.documents = None
        if self.store is not None:
            self.store.commit()

    def _safe_time_floor(self):
        return self.trusted.safe_time_floor()

    def _choose(self):
        """Take the image _select chose (self.name, self.entry) and let the trusted metadata go
        (the parsed targets are the largest thing on the heap); False when there is none."""
        ctx = self.ctx
        trusted = self.trusted
        ctx.root = trusted.root  # a rotation may have changed which keys sign images
        choice = self.choice
        self.consistent = trusted.root.consistent_snapshot
        self.trusted = self.store = self.choice = trusted = None
        if choice is None and self._choose_bundle():
            return True
        if choice is None:
            if ctx.root.version != self.root_version and not self._still_trusted():
                self.outcome = "revoked"
                return False
            self.outcome = "current"
            ctx.state.log_event("ota-current", "", self.running_version)
            return False
        self.name, self.entry = choice
        return True

    def _choose_bundle(self):
        """The first bundle, in installed() order (mpboot first), whose newest release is newer
        than its active copy (self.bundle, logged ota-bundle chosen); False when none is. One
        install per check: the next check takes the next bundle."""
        # The refresh's buffer, kept for this when there were candidates, is where each active
        # copy's manifest is read: made after the refresh, that 8 KiB block found no hole at some
        # heaps the rest of a bundle update fits in. The Bundle parsed holds nothing of it.
        documents, self.documents = self.documents, None
        for name, copy, path, entry in self.candidates:
            kept = _kept(name, copy, documents)
            # No readable manifest beside the active copy: nothing known runs, any version is newer.
            current = None if kept is None else kept.version
            version = entry["custom"]["version"]
            if current is None or versions.compare(version, current) > 0:
                self.bundle = (name, copy, current, path, entry)
                self.kept = kept
                self.candidates = None
                self.ctx.state.log_event("ota-bundle", "chosen", "%s %s from %s" % (name, version, current or "-"))
                return True
        self.candidates = None
        return False

    def _installed_bundles(self):
        """self.bundles: (name, active copy) of each installed bundle, mpboot first, then by
        name; False while any of them has an install waiting for its trial boot.
        Raises BundleError("trial-in-progress") during a bundle's trial (a health check that
        calls check(), refused before any network traffic as an image's trial is). A pointer
        that cannot be read is the stage's to repair at the next boot: that bundle is left out."""
        if not bundledir.present():
            self.bundles = []  # none: the bundle code is never imported (its heap)
            return True
        # Only to read the pointers: what this imports is let go again before the refresh, whose
        # peak it would otherwise add to (10 KB of module dicts and functions, in ROMFS too).
        imported = [m for m in ("bundle", "bundlestore") if "mpboot_fw." + m not in sys.modules]
        with loading():
            from mpboot_fw import bundle, bundlestore

        names = bundlestore.installed()
        if bundle.DEVICE_PACKAGE in names:
            names.remove(bundle.DEVICE_PACKAGE)
            names.insert(0, bundle.DEVICE_PACKAGE)
        out = []
        for name in names:
            try:
                pointer = bundlestore.read_pointer(name)
            except bundle.BundleError:
                continue
            if pointer.trial is not None:
                if pointer.mark == "try":
                    raise bundle.BundleError("trial-in-progress", name)  # modules kept: _failed looks it up
                _forget(imported)
                return False
            out.append((name, pointer.active))
        self.bundles = out
        _forget(imported)
        return True

    def _bundle_manifest(self):
        """Fetch the chosen bundle's manifest (its TUF target), check it against the target's
        entry (length, hashes) and the entry's custom fields, and plan the stream: which files
        the active copy already holds."""
        with loading():
            from mpboot_fw import bundle, bundlefetch

        name, _, _, path, entry = self.bundle
        check = tuf.target_check(entry)
        if check.length > bundle.MAX_MANIFEST:
            raise bundle.BundleError("manifest-too-large", "%d bytes" % check.length)
        self.where = "targets/" + tuf.target_path(path, entry, self.consistent)
        buf = bytearray(check.length)
        n = self.fetcher.fetch_into(self.url + self.where, buf)
        if n != len(buf):
            buf = buf[:n]
        check.update(buf)
        check.verify()  # the manifest is exactly what the metadata lists: no other version, no other bundle
        new = bundlefetch.unverified(buf)
        custom = entry["custom"]
        if new.name != name or new.version != custom["version"] or new.security_version != custom["security_version"]:
            raise bundle.BundleError("metadata-mismatch", "name or version")
        self.manifest = buf
        self.plan = bundlefetch.plan(new, self.kept)
        self.kept = None

    def _bundle_install(self):
        """Stream the bundle into its inactive copy (bundlestore.install verifies the manifest
        and every byte, then the copy in place, then writes the pointer); log what came from
        where."""
        with loading():
            from mpboot_fw import bundlefetch, bundlestore

        name, copy = self.bundle[:2]
        stream = self.stream = bundlefetch.Stream(self.fetcher, self.url, self.manifest, self.plan,
                                                  None if copy is None else bundlestore.copy_dir(name, copy))
        self.manifest = self.plan = None
        try:
            b = bundlestore.install(stream, self.ctx, name)
        finally:
            stream.close()
        self.ctx.state.log_event("ota-bundle", "installed", "%s %s %d+%dB new %d+%dB kept" % (
            name, b.version, stream.downloaded, stream.downloaded_bytes, stream.copied, stream.copied_bytes))

    def _still_trusted(self):
        """After a root rotation with nothing newer to install: does the running image still
        verify? If its signing key was dropped, the boot stage refuses it from the next boot
        on; log that now ("ota-revoked"), while the application still runs to report it."""
        ctx = self.ctx
        try:
            image.verify_slot(self.running, ctx.root, ctx.cfg.chip_id, ctx.cfg.board, ctx.state.floor)
            return True
        except image.ImageError as e:
            ctx.state.log_event("ota-revoked", e.reason, "running " + self.running_version)
            return False

    def _fetch_metadata(self, path, max_length):
        """tufclient's fetch: the file's bytes (at most max_length) in the document buffer, valid
        until the next fetch; None when it is missing."""
        self.where = "metadata/" + path
        url = self.url + self.where
        try:
            return self.documents.read(lambda buf: self.fetcher.fetch_into(url, buf), max_length)
        except self.fetch.FetchError as e:
            if e.reason in ("http-404", "http-403"):
                return None
            raise

    def _download(self):
        """Stream the chosen target through self.writer into its slot, checked against its TUF
        entry; (bytes, buffer)."""
        name, entry, writer = self.name, self.entry, self.writer
        check = tuf.target_check(entry)
        if check.length > writer.size:
            raise install.InstallError("too-large", "%d bytes, slot is %d" % (check.length, writer.size))
        sink = _Sink(writer, entry, check, self.progress)
        self.where = "targets/" + tuf.target_path(name, entry, self.consistent)
        self.fetcher.download(self.url + self.where, sink, check.length)
        sink.check.verify()
        self.ctx.state.log_event("ota-download", "", "%s %d bytes %d restarts" % (name[-40:], writer.written, sink.restarts))
        return writer.written, writer.buf

    def _failed(self, e):
        """Log why the check failed (and staleness, if so); the UpdateError to raise."""
        if isinstance(e, UpdateError):
            return e
        where = self.where if self.stream is None else self.stream.where
        name = None if self.bundle is None else self.bundle[0]
        if self.fetch is not None and isinstance(e, self.fetch.FetchError):
            error = UpdateError("ota-error", e.reason, _short(where))
        elif isinstance(e, tufclient.NotFound):
            error = UpdateError("ota-error", "not-found", str(e))
        elif isinstance(e, (image.ImageError, install.InstallError)) or _is_bundle_error(e):
            error = UpdateError("ota-refused", e.reason, _named(name, e))
        elif isinstance(e, TrustError):  # tuf.RepositoryError: the class names the failed check
            error = UpdateError("ota-refused", type(e).__name__, _named(name, e))
        elif isinstance(e, otaconfig.OtaConfigError):
            error = UpdateError("ota-error", "config", str(e))
        else:  # flash, state log or a fault
            error = UpdateError("ota-error", type(e).__name__, str(e))
        try:
            if self.ctx is None:
                # It failed loading the context (a MemoryError there may pass now that the
                # failed attempt's garbage can go): the failure is logged all the same.
                self.ctx = context.load()
            state = self.ctx.state
            state.log_event(error.code, error.reason, error.detail)
            s = status(self.clock, self.path, self.ctx)
            if s["stale"] or s["expired"]:
                state.log_event("ota-stale", "expired" if s["expired"] else "stale", "fresh at %d" % s["fresh_at"])
        except Exception:
            pass  # the state log itself may be what failed; the caller still learns why
        return error


class _Sink:
    """The download sink: each block is hashed (and its length policed) against the TUF entry
    before the SlotWriter puts it in flash; a restart from byte 0 restarts both. `progress`
    (or None) is told (bytes written, total) after each block."""

    def __init__(self, writer, entry, check, progress=None):
        self.writer = writer
        self.entry = entry
        self.check = check
        self.progress = progress
        self.restarts = 0

    def write(self, mv):
        self.check.update(mv)
        self.writer.write(mv)
        if self.progress is not None:
            self.progress(self.writer.written, self.check.length)

    def reset(self):
        self.writer.reset()
        self.check = tuf.target_check(self.entry)
        self.restarts += 1


def _check_manifest(m, custom, chip_id, board):
    """The manifest in flash must be for this device (chip and board, as find_image chose by)
    and be the image the metadata describes. Its signatures and the floor are install.commit's
    checks, against the trust anchor; these fields are only compared before it runs."""
    if m.chip_id != chip_id:
        raise image.ImageError("wrong-chip")
    if m.board and m.board != board:
        raise image.ImageError("wrong-board")
    if m.version != custom["version"] or m.security_version != custom["security_version"]:
        raise image.ImageError("metadata-mismatch", "version")


def _is_bundle_error(e):
    # Without importing the bundle code: a BundleError comes only from a module that did.
    bundle = sys.modules.get("mpboot_fw.bundle")
    return bundle is not None and isinstance(e, bundle.BundleError)


def _failed_trials(state):
    """{None: firmware versions, NAME: bundle versions} whose trial failed on this device, as
    its event log has them: an image's "trial-failed" (its version from the "verified" the same
    boot logged before it, detail "SLOT VERSION svN"), a bundle's "bundle-trial-failed" (detail
    "NAME VERSION COPY"). Offered again, such a release would fail again, an install, a failed
    trial and two resets at every check. A trial that only never finished (a power cut, a
    reset, the watchdog: "rolled-back") says nothing against the release, and it is retried.
    The events are a ring of 32: a failure that left it is tried once more."""
    out = {}
    verified = None
    for event in state.events():
        code, words = event[1], (event[3] or "").split(" ")
        if code == "verified" and len(words) == 3:
            verified = (event[0], words[1])
        elif code == "trial-failed" and verified is not None and verified[0] == event[0]:
            name, version = None, verified[1]
        elif code == "bundle-trial-failed" and len(words) == 3:
            name, version = words[0], words[1]
        else:
            continue
        if code != "verified" and version not in out.get(name, ()):
            out[name] = out.get(name, ()) + (version,)
    return out


def _history(state):
    """(last updater event, failed checks since the last good one) from the event log."""
    last = None
    failures = 0
    for event in state.events():
        code = event[1]
        if code[:4] != "ota-" and code != "installed":
            continue
        if code in _FAILED:
            failures += 1
        elif code != "ota-stale":
            failures = 0
        last = event
    return last, failures


def _read_file(path):
    with open(path, "rb") as f:
        return f.read()


def _forget(names):
    """Let the modules mpboot_fw.NAME go (sys.modules and the package's attribute): only those
    the check itself imported, never one the application holds. A later import loads it anew."""
    package = sys.modules["mpboot_fw"]
    for name in names:
        sys.modules.pop("mpboot_fw." + name, None)
        if name in package.__dict__:
            delattr(package, name)


def _kept(name, copy, documents):
    """The unverified Bundle of the manifest kept beside copy `copy` of bundle `name` (None: no
    copy, or no readable manifest): what runs, and where its files are (bundlefetch.kept, read
    into `documents`)."""
    with loading():
        from mpboot_fw import bundlefetch, bundlestore

    return None if copy is None else bundlefetch.kept(bundlestore.copy_dir(name, copy) + bundlestore.MANIFEST, documents)


def _named(name, e):
    """An error's text for the log, after the name of the bundle being installed (if any)."""
    return str(e) if name is None else name + ": " + str(e)


def _short(text):
    """The end of a path, for a log detail (at most 64 bytes)."""
    return None if text is None else text[-64:]
