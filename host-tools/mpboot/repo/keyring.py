"""The private keys a command signs with: key files or pkcs11: key URIs named on its command
line, else the ones the repository remembers for the role. Every key is checked against the
role's keyids before it signs anything, and a missing signature is reported before any file is
written. A token key is logged in to once per command (keys.load_private_key, mpboot.hsm)."""

from mpboot import keys as keymod
from mpboot.errors import MpbootError
from mpboot.repo.layout import ROLES


def key_option(role):
    """The command-line option that gives `role` a key file or URI: top-level roles have their own
    (--targets-key FILE), a delegated role's keys are named with the role (any name is possible)."""
    return "--%s-key FILE|URI" % role if role in ROLES else "--delegated-key %s=FILE|URI" % role


class KeyRing:
    def __init__(self, repo_dir, settings, given=None, passphrase=None):
        """given: {role: [key files or URIs]} from the command line (they replace the remembered ones)."""
        self.repo_dir = repo_dir
        self.settings = settings
        self.given = {role: list(paths) for role, paths in (given or {}).items() if paths}
        self.passphrase = passphrase
        self._loaded = {}

    def load(self, path):
        """(keyid, private key) of a key file or URI, loaded once per command."""
        key = str(path)
        if key not in self._loaded:
            private = keymod.load_private_key(path, self.passphrase)
            self._loaded[key] = (keymod.tuf_key(private.public_key()).keyid, private)
        return self._loaded[key]

    def signers(self, role, keyids, threshold=None):
        """Signers for every available key of `role` among `keyids`; with `threshold`, refuse
        (naming the option to pass) when fewer than that many are available."""
        keyids = list(keyids)
        found = {}
        if role in self.given:
            for path in self.given[role]:
                keyid, private = self.load(path)
                if keyid not in keyids:
                    raise MpbootError(
                        "%s is not a %s key of this repository (its keyid is %s; the role has %s)"
                        % (keymod.shown(path), role, keyid[:16], ", ".join(k[:16] for k in keyids) or "no keys")
                    )
                found[keyid] = private
        else:
            for keyid, path in self.settings.key_paths(self.repo_dir, role).items():
                # An absent file is an offline key, asked for below; a token key is always tried.
                if keyid in keyids and (keymod.is_uri(path) or path.exists()):
                    loaded_id, private = self.load(path)
                    if loaded_id != keyid:
                        raise MpbootError(
                            "%s no longer holds the %s key %s (replaced since the repository remembered it): pass %s"
                            % (keymod.shown(path), role, keyid[:16], key_option(role))
                        )
                    found[keyid] = private
        if threshold is not None and len(found) < threshold:
            missing = [k[:16] for k in keyids if k not in found]
            raise MpbootError(
                "signing %s needs %d key(s) of the role, %d at hand: pass %s for more of "
                "its keys (keyids %s)" % (role, threshold, len(found), key_option(role), ", ".join(missing))
            )
        return [keymod.tuf_signer(private) for private in found.values()]
