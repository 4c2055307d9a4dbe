"""The fuzz targets: name -> Target. A Target builds its seeds from the project's own code, turns
a random generator into one input (`generate`), and checks one input (`check`), raising for a
finding: any exception other than the target's declared error, or a broken property."""

import json
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
for sub in ("fuzz", "tests", "tests/device", "firmware", "host-tools"):
    p = str(ROOT / sub)
    if p not in sys.path:
        sys.path.insert(0, p)

from mutate import BOUNDARY, mutate  # noqa: E402


class Target:
    name = None
    fix_rate = 0.0  # how often `fix` (re-sign, re-seal) follows the byte mutations
    tree_rate = 0.0  # how often a JSON-aware mutation replaces the byte mutations
    focus = None  # per seed: (start, end) region most byte mutations land in, or None
    seeds = ()

    def setup(self):
        """Build seeds and context (called once per process)."""

    def fix(self, rng, data):
        return data

    def generate(self, rng):
        """(input bytes, info): info['fixed'] when the input was re-signed or re-sealed."""
        i = rng.randrange(len(self.seeds))
        seed = self.seeds[i]
        info = {"seed": i, "fixed": False}
        r = rng.random()
        if r < 0.01:
            return seed, info
        if r < 0.01 + self.tree_rate:
            data = tree_mutate(rng, seed)
        else:
            focus = self.focus[i] if self.focus else None
            data = mutate(rng, seed, self.seeds, focus)
        if self.fix_rate and rng.random() < self.fix_rate:
            fixed = self.fix(rng, data)
            info["fixed"] = fixed is not data
            data = fixed
        return data, info

    def check(self, data, info):
        raise NotImplementedError


def input_for(target, seed, index):
    """The input number `index` of a campaign with `seed` (the same bytes every time)."""
    rng = random.Random("%s:%d:%d" % (target.name, seed, index))
    return target.generate(rng)


# -- JSON-aware mutation ------------------------------------------------------------------------
ODD_VALUES = (None, True, False, 0, -1, 1, 2 ** 31, 2 ** 32, 2 ** 63, -(2 ** 63), 10 ** 40, 1.5, "", "x",
              "\u00e9", "\ud800", "\U0001f600", "\x00", [], {}, [1], {"a": 1}, "2026-01-01T00:00:00Z",
              "1.0.31", "2.0.0", "sha256", "ed25519", "0" * 64)


def _paths(obj):
    out = []
    todo = [((), obj)]
    while todo and len(out) < 2000:
        path, v = todo.pop()
        out.append(path)
        if isinstance(v, dict):
            todo.extend((path + (k,), v[k]) for k in v)
        elif isinstance(v, list):
            todo.extend((path + (i,), x) for i, x in enumerate(v))
    return out


def mutate_tree(rng, obj):
    """One structural change to a parsed JSON document: a value replaced by an odd one, a key
    renamed, added or dropped, a list item duplicated, or a container nested deeper."""
    paths = _paths(obj)
    path = rng.choice(paths)
    if not path:
        return obj
    parent = obj
    for p in path[:-1]:
        parent = parent[p]
    key = path[-1]
    op = rng.randrange(7)
    if op == 0:
        parent[key] = rng.choice(ODD_VALUES)
    elif op == 1 and isinstance(parent[key], int) and not isinstance(parent[key], bool):
        parent[key] = rng.choice(BOUNDARY + (-1, 2 ** 64, parent[key] + 1, parent[key] - 1))
    elif op == 2:
        if isinstance(parent, dict):
            parent.pop(key)
        else:
            del parent[key]
    elif op == 3 and isinstance(parent, dict):
        parent[rng.choice(("extra", key + "\u0000", key.upper(), "_type", ""))] = parent[key]
    elif op == 4 and isinstance(parent, list):
        parent.insert(key, parent[key])
    elif op == 5:
        parent[key] = [parent[key]] if rng.random() < 0.5 else {"x": parent[key]}
    else:
        v = parent[key]
        for _ in range(rng.choice((10, 100, 600))):
            v = [v]
        parent[key] = v
    return obj


def dump(rng, obj):
    style = rng.randrange(3)
    if style == 0:
        return json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()
    if style == 1:
        return json.dumps(obj, indent=1, ensure_ascii=False).encode("utf-8", "surrogatepass")
    return json.dumps(obj).encode()


def tree_mutate(rng, data):
    try:
        obj = json.loads(data)
    except (ValueError, RecursionError):
        return data
    for _ in range(rng.choice((1, 1, 2, 3))):
        obj = mutate_tree(rng, obj)
    try:
        return dump(rng, obj)
    except (ValueError, RecursionError, UnicodeError):
        return data


_REGISTRY = {}


def all_targets():
    if not _REGISTRY:
        from targets import device, host

        for cls in device.TARGETS + host.TARGETS:
            _REGISTRY[cls.name] = cls
    return _REGISTRY


def get(name):
    t = all_targets()[name]()
    t.setup()
    return t
