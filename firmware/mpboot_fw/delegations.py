"""A targets role's `delegations` (TUF 1.0.x, 5.6.7): parsed and checked, and which delegated
roles a target path, or a whole directory of targets, is delegated to. No I/O.

Matching is python-tuf's, which the spec leaves to the client:
 * `paths`: the pattern and the target path are split on "/" and must have the same number of
   components, each compared as fnmatch.fnmatchcase does (`*`, `?`, `[set]`, `[!set]`; no
   escapes), so `*` never crosses a "/".
 * `path_hash_prefixes`: the lower-case hex SHA-256 of the UTF-8 target path starts with one.
 * `succinct_roles` (TAP 15, hashed bins without one entry per bin): the bin is the first
   `bit_length` bits of that SHA-256, named `PREFIX-HEX` (zero-padded); every bin terminates.

A directory search (`roles_for_directory`) asks which delegations could hold a target directly in
a directory (`esp32-4mb/stable/`: one more component, no "/" in it), which is exactly decidable for
`paths` patterns; a hashed delegation could hold any path, so it is always on the way.
"""

import hashlib
from binascii import hexlify

from mpboot_fw import trust
from mpboot_fw.trust import TrustError

try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


# One delegating role's limits: python-tuf has none, the device's heap does (and a role at the
# targets byte cap holds at most some 90 delegations anyway).
MAX_ROLES = const(64)
MAX_KEYS = const(64)
NAME_MAX = const(64)  # bytes of a role name: quoted, it names a file (`V.NAME.json`)
_TOP_LEVEL = ("root", "snapshot", "targets", "timestamp")


class Delegations:
    """The checked `delegations` of one targets role.

    keys: keyid -> public key (trust.parse_keys); roles: a list, in the order listed, of
    (name, keyids, threshold, terminating, paths or None, path_hash_prefixes or None);
    succinct: None or (keyids, threshold, bit_length, name_prefix), exclusive with roles.
    """

    def __init__(self, keys, roles, succinct):
        self.keys = keys
        self.roles = roles
        self.succinct = succinct

    def role(self, name):
        """(keyids, threshold) of the delegation to `name`, or None if there is none."""
        if self.succinct is not None:
            return self.succinct[:2] if _is_bin(self.succinct, name) else None
        for r in self.roles:
            if r[0] == name:
                return r[1], r[2]
        return None

    def roles_for(self, path):
        """[(name, terminating)] delegated `path`, in the order listed (python-tuf's
        get_roles_for_target)."""
        if self.succinct is not None:
            return [(bin_name(self.succinct, path_digest(path)), True)]
        digest = None
        out = []
        for name, _, _, terminating, paths, prefixes in self.roles:
            if paths is not None:
                hit = False
                for pattern in paths:
                    if path_matches(path, pattern):
                        hit = True
                        break
            else:
                if digest is None:
                    digest = hexlify(path_digest(path)).decode()
                hit = _starts_with_any(digest, prefixes)
            if hit:
                out.append((name, terminating))
        return out

    def roles_for_directory(self, directory):
        """[(name, terminating, every)] of the delegations that could hold a target directly in
        `directory` (ends with "/"), in the order listed; `every`: it is delegated every such
        target (then, if it terminates, a search for any of them ends with its subtree)."""
        if self.succinct is not None:
            bits, prefix = self.succinct[2], self.succinct[3]
            return [(_bin(prefix, bits, i), True, False) for i in range(1 << bits)]
        parts = directory.split("/")[:-1]
        out = []
        for name, _, _, terminating, paths, prefixes in self.roles:
            if paths is None:
                out.append((name, terminating, _covers_all(prefixes)))
                continue
            held = every = False
            for pattern in paths:
                pattern_parts = pattern.split("/")
                if len(pattern_parts) == len(parts) + 1 and _all_match(parts, pattern_parts):
                    held = True
                    every = every or pattern_parts[-1].strip("*") == ""
            if held:
                out.append((name, terminating, every))
        return out

    def narrowed(self, directories):
        """A copy holding only the delegations (and their keys) that could hold a target
        directly in one of `directories`: what a search of those needs, and less heap."""
        if self.succinct is not None:
            keep = set(self.succinct[0])
            roles = self.roles
        else:
            names = set()
            for directory in directories:
                for name, _, _ in self.roles_for_directory(directory):
                    names.add(name)
            roles = [r for r in self.roles if r[0] in names]
            keep = set()
            for r in roles:
                keep.update(r[1])
        keys = {}
        for keyid in keep:
            if keyid in self.keys:
                keys[keyid] = self.keys[keyid]
        return Delegations(keys, roles, self.succinct)


def parse(obj, where):
    """Delegations from a targets role's `delegations` object (None: it delegates nothing);
    TrustError naming `where` for anything malformed or over the limits."""
    if obj is None:
        return None
    if not isinstance(obj, dict):
        raise TrustError(where + ": bad delegations")
    key_objects = obj.get("keys")
    if isinstance(key_objects, dict) and len(key_objects) > MAX_KEYS:
        raise TrustError("%s: over %d delegation keys" % (where, MAX_KEYS))
    keys = trust.parse_keys(key_objects, where)
    roles = obj.get("roles")
    succinct = obj.get("succinct_roles")
    if (roles is None) == (succinct is None):
        raise TrustError(where + ": delegations need roles or succinct_roles")
    if succinct is not None:
        return Delegations(keys, None, _parse_succinct(succinct, where))
    if not isinstance(roles, list):
        raise TrustError(where + ": bad delegated roles")
    if len(roles) > MAX_ROLES:
        raise TrustError("%s: over %d delegated roles" % (where, MAX_ROLES))
    parsed = []
    names = set()
    for obj in roles:
        entry = _parse_role(obj, where)
        if entry[0] in names:
            raise TrustError("%s: role %s delegated twice" % (where, shown(entry[0])))
        names.add(entry[0])
        parsed.append(entry)
    return Delegations(keys, parsed, None)


def _parse_role(obj, where):
    if not isinstance(obj, dict):
        raise TrustError(where + ": bad delegated role")
    name = obj.get("name")
    if not isinstance(name, str) or not name or len(name.encode()) > NAME_MAX or name in _TOP_LEVEL:
        raise TrustError(where + ": bad delegated role name")
    keyids, threshold = trust.parse_role(shown(name), obj, where)
    terminating = obj.get("terminating")
    paths = obj.get("paths")
    prefixes = obj.get("path_hash_prefixes")
    if not isinstance(terminating, bool) or (paths is None) == (prefixes is None):
        raise TrustError("%s: bad delegated role %s" % (where, shown(name)))
    for patterns in (paths, prefixes):
        if patterns is not None and (not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns)):
            raise TrustError("%s: bad delegated role %s" % (where, shown(name)))
    return (name, keyids, threshold, terminating, paths, prefixes)


def _parse_succinct(obj, where):
    if not isinstance(obj, dict):
        raise TrustError(where + ": bad succinct_roles")
    keyids, threshold = trust.parse_role("succinct_roles", obj, where)
    bits = obj.get("bit_length")
    prefix = obj.get("name_prefix")
    if not isinstance(bits, int) or isinstance(bits, bool) or not 1 <= bits <= 32 or not isinstance(prefix, str):
        raise TrustError(where + ": bad succinct_roles")
    return (keyids, threshold, bits, prefix)


def shown(name):
    """A role name for an error: itself when it is short, plain ASCII (both runtimes print it
    alike), else "(name)"."""
    return name if all(" " <= c <= "~" for c in name) and len(name) <= 32 else "(name)"


def path_digest(path):
    return hashlib.sha256(path.encode()).digest()


def bin_name(succinct, digest):
    """The succinct-roles bin that holds a target whose path has SHA-256 `digest`."""
    bits = succinct[2]
    return _bin(succinct[3], bits, int.from_bytes(digest[:4], "big") >> (32 - bits))


def _bin(prefix, bits, index):
    width = len("%x" % ((1 << bits) - 1))
    digits = "%x" % index
    return "%s-%s%s" % (prefix, "0" * (width - len(digits)), digits)  # MicroPython has no zfill


def _is_bin(succinct, name):
    bits, prefix = succinct[2], succinct[3]
    suffix = name[len(prefix) + 1:]
    if not name.startswith(prefix + "-") or len(suffix) != len("%x" % ((1 << bits) - 1)):
        return False
    if not all(c in "0123456789abcdef" for c in suffix):
        return False
    return int(suffix, 16) < (1 << bits)


def _starts_with_any(digest, prefixes):
    for prefix in prefixes:
        if digest.startswith(prefix):
            return True
    return False


def _covers_all(prefixes, depth=0):
    """Does every hex SHA-256 start with one of `prefixes`? (A terminating hashed delegation
    that does holds every target, so nothing after it is ever reached.)"""
    if "" in prefixes:
        return True
    if depth == 64:
        return False
    for digit in "0123456789abcdef":
        rest = [p[1:] for p in prefixes if p[:1] == digit]
        if not rest or not _covers_all(rest, depth + 1):
            return False
    return True


def _all_match(names, patterns):
    for i in range(len(names)):
        if not fnmatch(names[i], patterns[i]):
            return False
    return True


def directly_in(path, directory):
    """Is target `path` directly in `directory` (ends with "/"): one more component, no "/"?"""
    return path.startswith(directory) and path.find("/", len(directory)) < 0


def path_matches(path, pattern):
    """python-tuf's DelegatedRole._is_target_in_pathpattern: component by component."""
    names = path.split("/")
    patterns = pattern.split("/")
    return len(names) == len(patterns) and _all_match(names, patterns)


def fnmatch(name, pattern):
    """fnmatch.fnmatchcase(name, pattern) of CPython 3.11, without re (MicroPython has none
    that would do): the pattern is read into one-character tokens, then matched with the usual
    backtracking over the last `*`."""
    tokens = _tokens(pattern)
    t = n = 0
    star = -1
    mark = 0
    while n < len(name):
        if t < len(tokens) and tokens[t] is not None and _token_matches(tokens[t], name[n]):
            t += 1
            n += 1
        elif t < len(tokens) and tokens[t] is None:
            star = t
            mark = n
            t += 1
        elif star >= 0:
            t = star + 1
            mark += 1
            n = mark
        else:
            return False
    while t < len(tokens) and tokens[t] is None:
        t += 1
    return t == len(tokens)


def _token_matches(token, c):
    if token == "?":
        return True
    negate, ranges = token
    for lo, hi in ranges:
        if lo <= c <= hi:
            return not negate
    return negate


def _tokens(pat):
    """The pattern as fnmatch.translate reads it: None for `*` (runs of them are one), "?" for
    any one character, (negate, [(lo, hi)...]) for a set or a literal character."""
    out = []
    i, n = 0, len(pat)
    while i < n:
        c = pat[i]
        i += 1
        if c == "*":
            if not out or out[-1] is not None:
                out.append(None)
        elif c == "?":
            out.append("?")
        elif c == "[":
            j = i
            if j < n and pat[j] == "!":
                j += 1
            if j < n and pat[j] == "]":
                j += 1
            while j < n and pat[j] != "]":
                j += 1
            if j >= n:
                out.append((False, [("[", "[")]))  # no closing "]": a literal "["
            else:
                out.append(_set(pat, i, j))
                i = j + 1
        else:
            out.append((False, [(c, c)]))
    return out


def _set(pat, i, j):
    """The set pat[i:j] (between "[" and "]") as fnmatch.translate builds it: split at the "-"
    that make ranges, empty ranges (lo > hi) dropped with their ends, a leading "!" negates;
    then read as re reads the class translate() writes (a "-" with nothing before it, or
    nothing after it, is a literal)."""
    chunks = []
    k = i + 2 if pat[i] == "!" else i + 1
    while True:
        k = pat.find("-", k, j)
        if k < 0:
            break
        chunks.append(pat[i:k])
        i = k + 1
        k += 3
    chunk = pat[i:j]
    if chunk:
        chunks.append(chunk)
    else:
        chunks[-1] += "-"
    for k in range(len(chunks) - 1, 0, -1):
        if chunks[k - 1][-1] > chunks[k][0]:
            chunks[k - 1] = chunks[k - 1][:-1] + chunks[k][1:]
            del chunks[k]
    items = []  # characters, and None for each "-" that joins two chunks (a range)
    for index in range(len(chunks)):
        if index:
            items.append(None)
        items.extend(chunks[index])
    if not items:
        return (False, [])  # an empty set: matches nothing
    negate = items[0] == "!"
    if negate:
        if len(items) == 1:
            return (True, [])  # a negated empty set: any character
        items = items[1:]
    ranges = []
    p = 0
    while p < len(items):
        lo = "-" if items[p] is None else items[p]
        p += 1
        if p + 1 < len(items) and items[p] is None:
            hi = "-" if items[p + 1] is None else items[p + 1]
            ranges.append((lo, hi))
            p += 2
        else:
            ranges.append((lo, lo))
    return (negate, ranges)
