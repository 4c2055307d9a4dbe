"""Boot stage: what each verification policy costs, the manual install, the full power-cut sweep,
and the heap, on real MicroPython (WebAssembly port; a real ESP32 differs, docs/boot-stage.md).

- verify pieces: SHA-256 of a slot streamed in 4 KiB blocks (image.payload_sha256) per MiB, and
  one Ed25519 check of a manifest (the root's targets role), timed over many iterations in one
  run against an empty run;
- boots on the emulated board with the real MicroPython firmware (1.5 MB signed image): a
  normal boot with the "every-boot" policy against "trial-only" (the reference: reads the manifest for the floor, no hash or signature), and
  a whole manual install (install boot + trial boot + first boot of the new image);
- the full power-cut sweep of tests/test_bootstage_powercut.py: every flash operation, before,
  torn and after, from a fresh state log and from logs that compact amid the install;
- the heap of an install and a trial boot above idle (tests/stagemem.py).
"""

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "device"))

import bootstage  # noqa: E402
import stagemem  # noqa: E402
from mpboot import manualinstall, signing  # noqa: E402
from mpboot.emulator.flash import CUT_MODES, CutPlan  # noqa: E402
from mpboot.fixtures import micropython_firmware  # noqa: E402
from mpboot.mpy.runtime import MicroPython  # noqa: E402
import emuboard  # noqa: E402

VERIFY_SETUP = """
import hashlib
from mpboot_fw import image, trust, context
from mpboot_fw.blockdev import BytesDevice
with open('/data/image.mpb', 'rb') as f:
    dev = BytesDevice(f.read())
with open('/data/root.json', 'rb') as f:
    root = trust.load_root(f.read())
m = image.read_manifest(dev)
sigs = dict(m.signatures)
buf = bytearray(4096)
"""


def host_timed(mp, code, repeat):
    """Seconds per iteration of `code` run `repeat` times in one MicroPython run, less an empty loop."""
    loop = "for _i in range(%d):\n%s\n" % (repeat, "\n".join("    " + line for line in code.splitlines()))
    empty = "for _i in range(%d):\n    pass\n" % repeat
    timings = []
    for body in (empty, loop):
        start = time.perf_counter()
        mp.run(body).check()
        timings.append(time.perf_counter() - start)
    return (timings[1] - timings[0]) / repeat


def real_firmware_image(version, secver):
    app = signing.load_app(micropython_firmware().read_bytes(), 0).app
    return signing.sign_app(app, [bootstage.RELEASE], version, secver, 0, bootstage.BOARD.name,
                            created=bootstage.CREATED)


def verify_costs(mp, v1):
    mp.boot()
    mp.put_firmware()
    mp.put_file("/data/image.mpb", v1)
    mp.put_file("/data/root.json", bootstage.ROOT)
    mp.run(VERIFY_SETUP).check()
    mib = len(v1) / 2 ** 20
    hash_s = host_timed(mp, "image.payload_sha256(dev, m.payload_len, buf)", 5)
    sig_s = host_timed(mp, "root.verify('targets', m.signed, sigs)", 20)
    whole_s = host_timed(mp, "image.verify_slot(dev, root, 0, 'esp32-4mb', 1, buf=buf)", 5)
    print("SHA-256 of the slot, 4 KiB blocks:   %7.1f ms per MiB  (%.2f MiB image: %.1f ms)"
          % (hash_s / mib * 1e3, mib, hash_s * 1e3))
    print("one Ed25519 check of the manifest:  %7.1f ms" % (sig_s * 1e3))
    print("verify_slot, whole image:           %7.1f ms  (= hash + check + parsing)" % (whole_s * 1e3))


def boot_costs(mp, v1, v2):
    per_policy = {}
    for policy in ("trial-only", "every-boot"):
        flash = bootstage.provisioned(v1, policy=policy)
        b = bootstage.board(flash, mp)
        b.boot()
        records = b.run(10)
        assert all(bootstage.app_line(r) for r in records), records[-1].text
        per_policy[policy] = sum(r.seconds for r in records) / len(records)
    ref = per_policy["trial-only"]
    print("normal boot, trial-only (reference): %6.1f ms" % (ref * 1e3))
    print("normal boot, every-boot:             %6.1f ms  (x%.2f; +%.1f ms for the 1.5 MB image's check)"
          % (per_policy["every-boot"] * 1e3, per_policy["every-boot"] / ref, (per_policy["every-boot"] - ref) * 1e3))
    flash = bootstage.provisioned(v1)
    b = bootstage.board(flash, mp)
    b.boot()
    start = time.perf_counter()
    result = manualinstall.install(b, v2)
    took = time.perf_counter() - start
    assert result.accepted, result.reason
    print("manual install of the 1.5 MB image:  %6.2f s over %d boots (x%.1f a normal boot), %d flash operations"
          % (took, len(result.boots), took / ref, sum(r.flash["operations"] for r in result.boots)))


def full_sweep(mp):
    v1, v2 = bootstage.signed("1.0.0", 1), bootstage.signed("2.0.0", 2)
    flash = bootstage.provisioned(v1)
    bootstage.board(flash, mp).boot()
    flash.reset_log()
    fresh = bytes(flash.mem)
    total_points = 0
    total_time = 0.0
    for name, start in (("fresh state log", fresh),
                        ("log compacts at the pending record", bootstage.compacting_at(fresh, v2, 1)),
                        ("log compacts at the floor", bootstage.compacting_at(fresh, v2, 5))):
        t0 = time.perf_counter()
        _, _, _, boots = bootstage.install_run(start, mp, v2)
        ops = sum(r.flash["operations"] for r in boots)
        ends = {}
        for k in range(ops):
            for mode in CUT_MODES:
                end = bootstage.install_run(start, mp, v2, CutPlan(k, mode))[1]
                ends[end] = ends.get(end, 0) + 1
        took = time.perf_counter() - t0
        total_points += ops * len(CUT_MODES)
        total_time += took
        print("%-36s %4d operations, %4d cut points, all passed: %s; %.1f s (%.0f ms per cut point)"
              % (name + ":", ops, ops * len(CUT_MODES), ", ".join("%d end on %s" % (n, v) for v, n in sorted(ends.items())),
                 took, took / (ops * len(CUT_MODES)) * 1e3))
    print("full sweep: %d cut points in %.0f s" % (total_points, total_time))


def memory(mp):
    result = stagemem.estimate(mp, stagemem.image_under_test(size=200000))
    print("heap above idle (200 KB image): install %.1f KiB, trial boot %.1f KiB (target 32 KiB);"
          " Ed25519 check peak %.1f KiB (CPython tracemalloc)"
          % (result["install_estimate"] / 1024, result["boot_estimate"] / 1024, result["ed25519_peak"] / 1024))
    print("  growth over the block loops (bytes): %s" % ", ".join("%s %d" % kv for kv in sorted(result["loops"].items())))


def main():
    v1, v2 = real_firmware_image("1.0.0", 1), real_firmware_image("2.0.0", 2)
    mp = MicroPython()
    try:
        verify_costs(mp, v1)
        boot_costs(mp, v1, v2)
        memory(mp)
        # The sweep on the board's runtime (the unix port where installed: LittleFS in the model).
        full_sweep(emuboard.board_runtime())
    finally:
        mp.close()


if __name__ == "__main__":
    main()
