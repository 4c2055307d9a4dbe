"""Release versions and which one is newer: Semantic Versioning 2.0 precedence.

`compare(a, b)` returns -1, 0 or 1. A version is dot-separated numbers (1 to 4 of them; missing
ones count as 0, so 1.2 equals 1.2.0), then optionally `-` and pre-release identifiers, then
optionally `+` and build metadata, which precedence ignores. A pre-release comes before its
release (1.2.0-rc.1 < 1.2.0); its identifiers compare numerically when all digits, else as ASCII
text, numbers before text, and a longer list wins when one is a prefix of the other.

The repository refuses to publish a version that is not newer on its channel, and a device
takes a target only when it is newer than what runs; both use this one rule.
"""

_MAX_NUMBERS = 4
_MAX_LENGTH = 32
_IDENT_CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-"


def parse(text):
    """'1.2.3-rc.1+build.7' -> ((1, 2, 3, 0), ('rc', 1)); no pre-release -> (numbers, None).
    Raises ValueError for anything else."""
    if not isinstance(text, str) or not 0 < len(text) <= _MAX_LENGTH:
        raise ValueError("bad version")
    core, plus, build = text.partition("+")
    if plus and not _identifiers(build, False):
        raise ValueError("bad version")
    core, dash, pre = core.partition("-")
    numbers = core.split(".")
    if len(numbers) > _MAX_NUMBERS:
        raise ValueError("bad version")
    values = []
    for n in numbers:
        if not _is_number(n):
            raise ValueError("bad version")
        values.append(int(n))
    while len(values) < _MAX_NUMBERS:
        values.append(0)
    if not dash:
        return tuple(values), None
    ids = _identifiers(pre, True)
    if not ids:
        raise ValueError("bad version")
    return tuple(values), ids


def compare(a, b):
    """-1 if version a comes before b, 0 if they have the same precedence, 1 if a is newer."""
    (na, pa), (nb, pb) = parse(a), parse(b)
    if na != nb:
        return -1 if na < nb else 1
    if pa is None or pb is None:
        # A release is newer than any of its pre-releases.
        return (pa is None) - (pb is None)
    for x, y in zip(pa, pb):
        if x != y:
            if isinstance(x, int) != isinstance(y, int):
                return -1 if isinstance(x, int) else 1
            return -1 if x < y else 1
    return (len(pa) > len(pb)) - (len(pa) < len(pb))


def _is_number(s):
    return len(s) > 0 and all("0" <= c <= "9" for c in s) and (s == "0" or s[0] != "0")


def _identifiers(text, numeric):
    """Dot-separated identifiers of [0-9A-Za-z-], with numeric ones as ints when `numeric`."""
    out = []
    for ident in text.split("."):
        if not ident or not all(c in _IDENT_CHARS for c in ident):
            return None
        if numeric and all("0" <= c <= "9" for c in ident):
            if not _is_number(ident):
                return None  # SemVer forbids leading zeros in numeric identifiers
            out.append(int(ident))
        else:
            out.append(ident)
    return tuple(out)
