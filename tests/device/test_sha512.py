"""SHA-512: the pure-Python one (what MicroPython uses) against FIPS 180 known answers."""

from binascii import hexlify

from devtest import ON_MICROPYTHON
from mpboot_fw.sha512 import PureSha512, sha512

TWO_BLOCKS = (
    b"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno"
    b"ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu"
)
# FIPS 180-2 appendix C examples.
VECTORS = (
    (b"", "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
          "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"),
    (b"abc", "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
             "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"),
    (TWO_BLOCKS, "8e959b75dae313da8cf4f72814fc143f8f7779c6eb9f7fa17299aeadb6889018"
                 "501d289e4900f7e4331b99dec4b5433ac7d329eeb6dd26545e96e55b874be909"),
)
# 100,000 "a" (from CPython's hashlib, an independent implementation) and FIPS's 1,000,000 "a".
HUNDRED_THOUSAND_A = ("c7664ff18bbefa5868d1eba38637087ad70e6380013f52f4ce3dd4a98bebd493"
                      "53ce40be1dfddad2259bacdc7bd10e98d44a6a68d5d1091bcd55b47efb5cd50e")
MILLION_A = ("e718483d0ce769644e2e42c7bc15b4638e1f98b13b2044285632a803afa973eb"
             "de0ff244877ea60a4cb0432ce577c31beb009c5c2c49aa2e4eadb217ad8cc09b")


def _hex(digest):
    return hexlify(digest).decode()


def test_known_answers():
    for data, want in VECTORS:
        assert _hex(PureSha512(data).digest()) == want, data
        assert _hex(sha512(data).digest()) == want, data


def test_two_block_message_split_at_every_offset():
    # 112 bytes: padding needs a second block, and each split crosses the buffer differently.
    want = VECTORS[2][1]
    for cut in range(len(TWO_BLOCKS) + 1):
        h = PureSha512(TWO_BLOCKS[:cut])
        h.update(TWO_BLOCKS[cut:])
        assert _hex(h.digest()) == want, cut


def test_million_a_in_uneven_chunks():
    # 7813 blocks take seconds on MicroPython's WebAssembly port: a tenth of them there.
    chunk = b"a" * 999
    h = PureSha512()
    for _ in range(100 if ON_MICROPYTHON else 1001):
        h.update(chunk)
    if ON_MICROPYTHON:
        h.update(chunk[:100])
        assert _hex(h.digest()) == HUNDRED_THOUSAND_A
    else:
        h.update(chunk[:1])
        assert _hex(h.digest()) == MILLION_A


def test_digest_leaves_the_stream_open():
    h = PureSha512(b"ab")
    h.digest()
    h.update(b"c")
    assert _hex(h.digest()) == VECTORS[1][1]


def test_accepts_bytearray_and_memoryview():
    data = bytearray(TWO_BLOCKS)
    h = PureSha512(memoryview(data)[:50])
    h.update(data[50:])
    assert _hex(h.digest()) == VECTORS[2][1]


def test_runtime_uses_native_sha512_only_where_it_exists():
    try:
        import hashlib

        native = getattr(hashlib, "sha512", None)
    except ImportError:
        native = None
    assert sha512 is (native or PureSha512)
    if native is not None:
        for n in range(0, 300, 7):
            data = bytes(range(n % 256)) * (n // 256 + 1)
            assert PureSha512(data).digest() == native(data).digest(), n
