"""Version precedence (SemVer 2.0), on CPython and MicroPython."""

from devtest import raises

from mpboot_fw import version

# Each version is older than the next one (SemVer 2.0's own example chain, then more).
ORDERED = [
    "0.9.9",
    "1.0.0-alpha",
    "1.0.0-alpha.1",
    "1.0.0-alpha.beta",
    "1.0.0-beta",
    "1.0.0-beta.2",
    "1.0.0-beta.11",
    "1.0.0-rc.1",
    "1.0.0",
    "1.0.1",
    "1.2",
    "1.9.0",
    "1.10.0",
    "1.10.0.1",
    "2.0.0-0",
    "2.0.0",
    "10.0.0",
]


def test_ordered_chain():
    for i, a in enumerate(ORDERED):
        for j, b in enumerate(ORDERED):
            expected = (i > j) - (i < j)
            assert version.compare(a, b) == expected, (a, b)


def test_equal_precedence():
    assert version.compare("1.2", "1.2.0") == 0
    assert version.compare("1.2.0+build.5", "1.2.0") == 0
    assert version.compare("1.2.0-rc.1+a", "1.2.0-rc.1+b") == 0


def test_numeric_identifiers_compare_as_numbers():
    assert version.compare("1.0.0-rc.10", "1.0.0-rc.9") == 1
    assert version.compare("1.0.0-10", "1.0.0-rc") == -1


def test_parse():
    assert version.parse("1.2.3") == ((1, 2, 3, 0), None)
    assert version.parse("1.2.3-rc.1+x") == ((1, 2, 3, 0), ("rc", 1))


def test_refused():
    for bad in ["", "v1.0", "1..0", "1.0.", ".1", "01.0", "1.0.0-", "1.0.0-rc..1", "1.0.0-01",
                "1.0.0+", "1.0.0-rc!", "1.2.3.4.5", "1.0 ", "a.b.c", "1.0.0-\u00e9", "1" * 33, None, 1]:
        raises(ValueError, version.parse, bad)

