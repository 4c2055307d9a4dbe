"""cjson.check_syntax against CPython's json module, on both runtimes: random documents written
with random whitespace, and single-byte mutations of them. A text passes check_syntax exactly when
CPython's json.loads parses it as JSON (its NaN/Infinity extension refused), on CPython and on
MicroPython alike, and what passes parses to the same value on both."""

import hashlib
import json
import random

from test_cjson_oracle import _random_documents

from mpboot_fw import cjson

# Bytes a mutation inserts or substitutes: the grammar's own, and the ones MicroPython's parser
# is lax about.
MUTATIONS = b'[]{}:,"\\ \n\t\x00\x01-+.0123456789eEatrufnlsxN\x7f\x80\xc3\xed\xff'


def _write(rng, doc):
    # json.dumps with a random layout, then its separators padded with random JSON whitespace.
    text = json.dumps(doc, ensure_ascii=rng.random() < 0.5, indent=rng.choice([None, 0, 2]))
    out = []
    for ch in text:
        out.append(ch)
        if ch in ",:[]{}" and rng.random() < 0.2:
            out.append(rng.choice([" ", "\t", "\r\n"]))
    return "".join(out).encode("utf-8", "surrogatepass")


def _texts(seed, n=250):
    rng = random.Random(seed)
    texts = []
    for doc in _random_documents(n, seed):
        text = _write(rng, doc)
        texts.append(text)
        for _ in range(8):
            i = rng.randrange(len(text) + 1)
            b = bytes([rng.choice(MUTATIONS)])
            op = rng.randrange(3)
            if op == 0:
                texts.append(text[:i] + b + text[i:])
            elif op == 1:
                texts.append(text[:i] + text[i + 1:])
            else:
                texts.append(text[:i] + b + text[i + 1:])
    return texts


def _refuse_constant(name):
    raise ValueError(name)


def _cpython_accepts(text):
    try:
        # Decoded first: json.loads(bytes) guesses UTF-16/32 from NUL bytes and skips a BOM.
        json.loads(text.decode("utf-8"), parse_constant=_refuse_constant)
        return True
    except ValueError:
        return False


def _check(text):
    try:
        cjson.check_syntax(text, 8)
        return True
    except ValueError:
        return False


def _digest(value):
    try:
        return hashlib.sha256(cjson.encode(value)).hexdigest()
    except ValueError:  # floats: no canonical form to compare
        return "-"


def test_check_syntax_agrees_with_cpython_json():
    texts = _texts(seed=3)
    disagree = [t for t in texts if _check(t) != _cpython_accepts(t)]
    assert not disagree, disagree[:5]
    passed = sum(map(_check, texts))
    assert len(texts) // 5 < passed < len(texts) - len(texts) // 5  # both verdicts well exercised


def test_check_syntax_agrees_on_micropython(micropython):
    texts = _texts(seed=4)
    code = """
import json, hashlib, binascii
from mpboot_fw import cjson
for line in open('/texts.txt'):
    text = binascii.unhexlify(line.strip())
    try:
        cjson.check_syntax(text, 8)
    except ValueError:
        print('refused')
        continue
    try:
        print(binascii.hexlify(hashlib.sha256(cjson.encode(json.loads(text))).digest()).decode())
    except ValueError:
        print('-')
"""
    files = {"/texts.txt": "\n".join(t.hex() for t in texts)}
    lines = micropython.run_fresh(code, files=files, timeout=600).check().split("\n")
    expected = [_digest(json.loads(t)) if _check(t) else "refused" for t in texts]
    assert len(lines) == len(expected)
    wrong = [(t, got, want) for t, got, want in zip(texts, lines, expected) if got != want]
    assert not wrong, wrong[:5]
