"""Heap for a whole over-the-air update on MicroPython (the emulated board, real HTTPS): the
issue's target is under 48 KiB above idle. How it is measured: tests/otamem.py."""

import otamem

TARGET = 48 * 1024


def test_update_with_targets_metadata_at_its_cap_fits_48k(micropython, tmp_path):
    w = otamem.world(tmp_path, micropython, targets_bytes=12288)
    try:
        result = otamem.estimate(w)
        print(otamem.table(result))
        assert result["outcome"] == "installed"
        assert 12288 - 800 < result["targets_bytes"] <= 12288
        live = dict((name, live) for name, live, _, _ in result["rows"])
        # the trusted set is let go once the image is chosen: the download runs without it
        assert live["chosen"] < live["stored"] - 12000, otamem.table(result)
        # the device then boots the image it downloaded
        assert w.boot().app["version"] == "2.0.0"
        # The budget. The targets bytes are alive (the refresh's one buffer, tuf.DocumentBuffer)
        # while the document is parsed and verified, and so are the parsed targets: parsed whole
        # and kept whole, the update at the cap was 52.7 KB (51.5 KiB). A scoped set (the
        # updater's) parses a compact canonical document a member at a time, keeping only its
        # directories' entries and of each only the custom fields a device reads
        # (trust.load_envelope's `select`, tuf.DEVICE_CUSTOM): 46.8 KB (docs/updater.md, "Memory").
        assert result["estimate"] < TARGET, otamem.table(result)
        # what the targets step adds, the parsed entries a device keeps: about the document's own
        # bytes (12.0 KB for 12.2 KB; parsed whole and kept, 18.0 KB)
        metadata = [live for name, live, _, _ in result["rows"] if name == "metadata"]
        assert metadata[3] - metadata[2] < result["targets_bytes"] + 1024, otamem.table(result)
    finally:
        w.close()
