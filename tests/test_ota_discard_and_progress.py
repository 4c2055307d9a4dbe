"""What an over-the-air download leaves in the inactive slot when it is not installed, and what
the application can see of a download while it runs."""

from mpboot.emulator.ota import image_ok
from otaworld import BOARD, output_line, world  # noqa: F401 (fixture)
from test_ota_attacks import attacker_key


def test_a_refused_download_leaves_its_slot_unbootable(world):
    # Metadata that vouches for an image no trusted key signed: every byte matches the TUF
    # entry, so the whole app lands in ota_1 before install.commit refuses its signature.
    w = world
    evil = w.image("9.0.0", keys=(attacker_key(w),))
    w.forge(add=[("esp32-4mb/stable/9.0.0.mpb", evil, None)])
    record = w.boot()
    assert output_line(record, "ota-failed:").split()[:2] == ["ota-refused", "signature-threshold"]
    ota_1 = BOARD.partition("ota_1")
    assert isinstance(image_ok(w.flash, ota_1, BOARD.chip_id), Exception)  # ESP-IDF would not load it


def test_a_download_reports_its_progress_block_by_block(world):
    w = world
    v2 = w.publish("2.0.0")
    record = w.boot(progress=True, reset=False)
    assert output_line(record, "ota:") == "installed"
    count, first, last, total = map(int, output_line(record, "progress:").split())
    assert (first, last, total) == (min(4096, len(v2)), len(v2), len(v2))
    assert count == (len(v2) + 4095) // 4096
