# The installer's stream -> slot copy and its commit, on both runtimes, over a RAM partition.
# What is in flash after each refusal is checked too: the slot's partial content never matters
# (otadata does not point at it), but a refused length must not even start writing.
import devtest
from mpboot_fw import context, config, install, statelog
from mpboot_fw.image import ImageError
from mpboot_fw.install import InstallError
from nor_ram import NorRam


def _read(name):
    with open(devtest.data_path(name), "rb") as f:
        return f.read()


IMAGE = _read("image.mpb")  # version 1.2.3, security version 5, board esp32-4mb, chip 0
ROOT = _read("root.json")


class Slot(NorRam):
    """A RAM OTA slot: NorRam plus what install needs of esp32.Partition."""

    def __init__(self, blocks, label="ota_1"):
        NorRam.__init__(self, blocks)
        self.label = label
        self.boot_selected = 0

    def info(self):
        return (0, 0x11, 0, self.blocks * 4096, self.label, False)

    def set_boot(self):
        self.boot_selected += 1


class Chunks:
    """A stream that returns at most `step` bytes per readinto, as a serial link does."""

    def __init__(self, data, step):
        self.data = data
        self.pos = 0
        self.step = step

    def readinto(self, buf):
        n = min(len(buf), self.step, len(self.data) - self.pos)
        buf[:n] = self.data[self.pos:self.pos + n]
        self.pos += n
        return n


def _ctx(floor=0):
    ctx = context.Context()
    ctx.cfg = config.check({"board": "esp32-4mb", "chip_id": 0})
    ctx.config_error = None
    ctx.state = statelog.format_partition(NorRam(4), ROOT, floor=floor)
    ctx.root = context.anchor(ctx.state)
    return ctx


def test_short_reads_are_gathered_into_whole_blocks():
    slot = Slot(8)
    w = install.SlotWriter(slot)
    assert install.receive(Chunks(IMAGE, 1000), w) == len(IMAGE)
    assert bytes(slot.mem[:len(IMAGE)]) == IMAGE
    assert bytes(slot.mem[len(IMAGE):]) == b"\xff" * (len(slot.mem) - len(IMAGE))  # last block padded
    assert slot.ops == 2 * ((len(IMAGE) + 4095) // 4096) and slot.faults == 0  # one erase + one write per block


def test_a_known_length_larger_than_the_slot_is_refused_before_writing():
    slot = Slot(2)
    e = devtest.raises(InstallError, install.receive, Chunks(IMAGE, 4096), install.SlotWriter(slot), len(IMAGE))
    assert e.reason == "too-large" and slot.ops == 0


def test_a_stream_larger_than_the_slot_is_refused_when_it_overflows():
    slot = Slot(2)
    w = install.SlotWriter(slot)
    e = devtest.raises(InstallError, install.receive, Chunks(IMAGE, 4096), w)
    assert e.reason == "too-large" and w.written == 8192


def test_a_short_stream_is_truncated():
    e = devtest.raises(InstallError, install.receive, Chunks(IMAGE[:5000], 700), install.SlotWriter(Slot(8)), len(IMAGE))
    assert e.reason == "truncated" and str(e) == "truncated: 5000 of %d bytes" % len(IMAGE)
    e = devtest.raises(InstallError, install.receive, Chunks(b"", 1), install.SlotWriter(Slot(8)))
    assert str(e) == "truncated: no data"


def test_only_the_last_block_may_be_short():
    w = install.SlotWriter(Slot(4))
    w.write(b"\x01" * 100)
    devtest.raises(ValueError, w.write, b"\x02" * 4096)
    w.reset()
    w.write(b"\x03" * 4096)
    assert w.written == 4096


def test_commit_verifies_in_flash_then_records_and_switches():
    ctx, slot = _ctx(floor=5), Slot(8)
    w = install.SlotWriter(slot)
    install.receive(Chunks(IMAGE, 4096), w)
    m = install.commit(ctx, slot, w.written, w.buf)
    assert (m.version, m.security_version, slot.boot_selected) == ("1.2.3", 5, 1)
    pending = ctx.state.pending
    assert (pending["slot"], pending["version"], pending["secver"], pending["sha256"]) == (
        "ota_1", "1.2.3", 5, m.payload_sha256)
    assert list(ctx.state.events()) == [(0, "installed", "", "ota_1 1.2.3 sv5")]


def test_install_logs_each_refusal_and_never_switches():
    cases = [
        (IMAGE, 6, "downgrade"),  # floor above the image's security version
        (IMAGE[:len(IMAGE) - 50], 0, "truncated"),  # the last signature cut off
        (IMAGE[:1000] + bytes([IMAGE[1000] ^ 1]) + IMAGE[1001:], 0, "payload-hash"),
    ]
    for data, floor, reason in cases:
        ctx, slot = _ctx(floor), Slot(8)
        e = devtest.raises(InstallError, install.install, ctx, Chunks(data, 4096), slot, len(data))
        assert e.reason == reason, (reason, e)
        assert slot.boot_selected == 0 and ctx.state.pending is None
        assert [ev[1:3] for ev in ctx.state.events()] == [("refused", reason)]


def test_the_bootloader_refusing_the_app_clears_the_pending_record():
    class Unbootable(Slot):
        def set_boot(self):
            raise OSError(-0x1503, "ESP_ERR_OTA_VALIDATE_FAILED")

    ctx, slot = _ctx(), Unbootable(8)
    e = devtest.raises(InstallError, install.install, ctx, Chunks(IMAGE, 4096), slot)
    assert e.reason == "not-bootable" and ctx.state.pending is None


def test_image_errors_keep_their_detail():
    ctx = _ctx()
    e = devtest.raises(InstallError, install.install, ctx, Chunks(b"\xe9" + IMAGE[1:300], 4096), Slot(8))
    assert e.reason == "truncated" and e.detail == "app image" and not isinstance(e, ImageError)
