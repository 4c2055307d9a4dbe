"""The classic ESP32's ROM serial loader (download mode on UART0), enough for the real esptool
with `--no-stub`: write-flash (plain or compressed), its MD5 check, chip detection, read-mac,
flash-id, and leaving the loader to run the flash.

    loader = RomLoader(board.flash, unique_id=board.unique_id, baud=pty.baud)
    end = loader.serve(pty.read, pty.write, stopping)   # "run", "reboot" or None (stopped)

The protocol is esptool's (esptool/loader.py, docs "Serial Protocol"): SLIP frames; a request is
(0x00, opcode, size, checksum) + payload, a response (0x01, opcode, size, value) + data + the
ESP32 ROM's four status bytes (status, error, 0, 0). The chip answers what esptool reads:
- registers: the chip magic value at 0x40001000, eFuse words of an ESP32-D0WD-V3 revision v3.0
  with the board's base MAC (machine.unique_id()), the UART divider as the ROM's auto-baud
  measured it (the client's baud rate on the pty), and the SPI controller's user-command
  registers, which run the flash's RDID, RDSFDP, RDSR, reset-enable and reset commands;
- flash writes: FLASH_BEGIN (or FLASH_DEFL_BEGIN) erases the whole region up front, as the ROM
  does, then each FLASH_DATA block (1 KiB, sequence-checked, XOR checksum seeded 0xEF) is one
  NorFlash write; compressed blocks are inflated with zlib and written in pieces of at most
  4 KiB, within one sector. So the NorFlash model counts every erase and write, and bits only go
  from 1 to 0;
- SPI_FLASH_MD5: the MD5 of the flash bytes, as 32 lower-case hex digits.

Not emulated: loading code into RAM (MEM_BEGIN/DATA/END, so esptool's stub cannot run: it is
machine code), READ_FLASH_SLOW, eFuse burning, and GET_SECURITY_INFO, which the classic ESP32's
ROM does not have either: those answer "invalid message" (status 1, error 0x05).
"""

import hashlib
import struct
import zlib

from mpboot.emulator.flash import SECTOR_SIZE, FlashError

BANNER = ("ets Jul 29 2019 12:21:46", "",
          "rst:0x1 (POWERON_RESET),boot:0x3 (DOWNLOAD_BOOT(UART0/UART1/SDIO_REI_REO_V2))",
          "waiting for download")

FLASH_BEGIN, FLASH_DATA, FLASH_END = 0x02, 0x03, 0x04
SYNC, WRITE_REG, READ_REG = 0x08, 0x09, 0x0A
SPI_SET_PARAMS, SPI_ATTACH, CHANGE_BAUDRATE = 0x0B, 0x0D, 0x0F
FLASH_DEFL_BEGIN, FLASH_DEFL_DATA, FLASH_DEFL_END, SPI_FLASH_MD5 = 0x10, 0x11, 0x12, 0x13
# The ROM's error codes (status byte 1, then one of these)
BAD_MESSAGE, CHECKSUM_ERROR, FLASH_WRITE_ERROR, INFLATE_ERROR = 0x05, 0x07, 0x08, 0x0B

SYNC_PAYLOAD = b"\x07\x07\x12\x20" + 32 * b"\x55"
SYNC_VALUE = 0x20120707  # the ROM answers SYNC with a non-zero value (esptool: 0 is its stub)
SYNC_REPLIES = 8
CHECKSUM_SEED = 0xEF
DEFL_WRITE = SECTOR_SIZE  # inflated data goes to flash in pieces of this size

CHIP_MAGIC_REG, CHIP_MAGIC = 0x40001000, 0x00F01D83
EFUSE_BASE, EFUSE_WORDS = 0x3FF5A000, 7
APB_CTL_DATE_REG, APB_CTL_DATE = 0x3FF6607C, 0x80000000 | 0x16042000  # bit 31: revision 3
UART_CLKDIV_REG, APB_HZ = 0x3FF40014, 40000000
RTCCALICFG1_REG = 0x3FF5F06C
CK8M_FREQ, RTC_CALI = 100, 1024  # ROM crystal estimate: RTC_CALI*15625*CK8M_FREQ/40 = 40 MHz
SPI_BASE = 0x3FF42000
SPI_CMD, SPI_ADDR, SPI_USR, SPI_USR2, SPI_MISO_DLEN, SPI_W0 = (SPI_BASE + o for o in (0, 4, 0x1C, 0x24, 0x2C, 0x80))
SPI_CMD_USR, SPI_USR_MISO = 1 << 18, 1 << 28
GIGADEVICE = 0xC8
# SFDP header and two parameter headers (JEDEC basic table, then the vendor's, whose first byte
# is the manufacturer id: esptool reads it at 0x10 to tell XMC chips apart).
SFDP = b"SFDP\x06\x01\x01\xff" + b"\x00\x06\x01\x10\x30\x00\x00\xff" + bytes((GIGADEVICE,)) + b"\x00\x01\x03\x60\x00\x00\xff"


def checksum(data, state=CHECKSUM_SEED):
    for b in data:
        state ^= b
    return state


def crc8(data):
    """esp_crc8 of the ROM (CRC-8, reflected polynomial 0x8C, initial 0): the MAC's eFuse CRC."""
    crc = 0
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8C if crc & 1 else crc >> 1
    return crc


def efuse_words(mac):
    """EFUSE_BLK0_RDATA0..6 of an ESP32-D0WD-V3 (package 1), chip revision v3.0, dual core,
    240 MHz, BT, with base MAC `mac` (6 bytes) and no security eFuses burnt."""
    words = [0] * EFUSE_WORDS
    words[1] = int.from_bytes(mac[2:6], "big")
    words[2] = crc8(mac) << 16 | int.from_bytes(mac[0:2], "big")
    words[3] = 1 << 9 | 1 << 13 | 1 << 15  # package D0WD, CPU frequency rated (240 MHz), revision bit 0
    words[4] = 0x0B << 8 | CK8M_FREQ  # ADC Vref calibration, the 8 MHz clock's calibration
    words[5] = 1 << 20  # revision bit 1; SPI pads: the default ones
    return words


def slip(packet):
    return b"\xc0" + packet.replace(b"\xdb", b"\xdb\xdd").replace(b"\xc0", b"\xdb\xdc") + b"\xc0"


class SlipReader:
    """Frames out of a byte stream. Bytes outside frames are noise the ROM ignores, and so is a
    'frame' that is not a request (a stray 0xC0 splits noise into one)."""

    def __init__(self):
        self._pending = b""

    def feed(self, data):
        *frames, self._pending = (self._pending + data).split(b"\xc0")
        # DB DC first: every 0xDB of the stream starts an escape, so no pair is mistaken.
        return [f.replace(b"\xdb\xdc", b"\xc0").replace(b"\xdb\xdd", b"\xdb") for f in frames if f]


class _Download:
    """A FLASH_BEGIN's (or FLASH_DEFL_BEGIN's) region: erased up front, written in sequence."""

    def __init__(self, offset, end, blocks, block_size, inflate):
        self.address = offset  # where the next inflated byte goes
        self.offset = offset
        self.end = end
        self.blocks = blocks
        self.block_size = block_size
        self.seq = 0
        self.inflater = zlib.decompressobj() if inflate else None


class RomLoader:
    def __init__(self, flash, unique_id, baud=lambda: 115200):
        """`flash`: the NorFlash the loader programs; `unique_id`: the base MAC in eFuse;
        `baud()`: the client's baud rate now (what the ROM's auto-baud measures)."""
        self.flash = flash
        self.baud = baud
        self.efuse = efuse_words(bytes(unique_id))
        self.regs = {}
        self.download = None

    def serve(self, read, write, stopping):
        """Answer requests until the host leaves the loader (FLASH_END, FLASH_DEFL_END):
        "run" (run the user code) or "reboot"; None when `stopping()` says so first."""
        reader = SlipReader()
        while not stopping():
            for frame in reader.feed(read(0.1)):
                replies, end = self.handle(frame)
                for reply in replies:
                    write(slip(reply))
                if end:
                    return end
        return None

    def handle(self, frame):
        """One request frame (unescaped): (response packets, "run"/"reboot" or None)."""
        if len(frame) < 8 or frame[0] != 0:
            return [], None
        _, op, size, chk = struct.unpack_from("<BBHI", frame)
        payload = frame[8:]
        if len(payload) != size:
            return [self._reply(op, error=BAD_MESSAGE)], None
        if op == SYNC:
            if payload != SYNC_PAYLOAD:
                return [self._reply(op, error=BAD_MESSAGE)], None
            return [self._reply(op, SYNC_VALUE)] * SYNC_REPLIES, None
        if op in (FLASH_END, FLASH_DEFL_END) and size == 4:
            self.download = None
            return [self._reply(op)], "run" if struct.unpack("<I", payload)[0] else "reboot"
        handler = self._HANDLERS.get(op)
        if handler is None:
            return [self._reply(op, error=BAD_MESSAGE)], None
        try:
            value, data = handler(self, payload, chk)
        except _Refused as e:
            return [self._reply(op, error=e.code)], None
        return [self._reply(op, value, data)], None

    @staticmethod
    def _reply(op, value=0, data=b"", error=0):
        body = data + bytes((1 if error else 0, error, 0, 0))
        return struct.pack("<BBHI", 1, op, len(body), value) + body

    # -- registers ---------------------------------------------------------------------------
    def _read_reg(self, payload, chk):
        (addr,) = _unpack("<I", payload)
        return self.read_reg(addr), b""

    def read_reg(self, addr):
        if addr == CHIP_MAGIC_REG:
            return CHIP_MAGIC
        if EFUSE_BASE <= addr < EFUSE_BASE + 4 * EFUSE_WORDS and addr % 4 == 0:
            return self.efuse[(addr - EFUSE_BASE) // 4]
        if addr == APB_CTL_DATE_REG:
            return APB_CTL_DATE
        if addr == UART_CLKDIV_REG:
            return APB_HZ // self.baud()
        if addr == RTCCALICFG1_REG:
            return RTC_CALI << 7
        return self.regs.get(addr, 0)

    def _write_reg(self, payload, chk):
        if not payload or len(payload) % 16:
            raise _Refused(BAD_MESSAGE)
        for addr, value, mask, _delay in struct.iter_unpack("<IIII", payload):
            self.regs[addr] = (self.regs.get(addr, 0) & ~mask | value & mask) & 0xFFFFFFFF
            if addr == SPI_CMD and self.regs[addr] & SPI_CMD_USR:
                self._spi_user_command()
        return 0, b""

    def _spi_user_command(self):
        """The SPI controller's user command, as esptool's run_spiflash_command sets it up: the
        command byte in USR2, a 24-bit address at the top of ADDR, the reply into W0."""
        command = self.regs.get(SPI_USR2, 0) & 0xFF
        address = self.regs.get(SPI_ADDR, 0) >> 8
        if command == 0x9F:  # RDID: manufacturer, memory type, capacity (log2 of the size)
            reply = bytes((GIGADEVICE, 0x40, self.flash.size.bit_length() - 1))
        elif command == 0x5A:  # RDSFDP
            reply = SFDP[address:address + 4]
        elif command in (0x05, 0x35, 0x15):  # status registers: idle, nothing protected
            reply = b"\x00"
        else:  # reset enable/reset and anything else: nothing to read back
            reply = b""
        if self.regs.get(SPI_USR, 0) & SPI_USR_MISO:
            bits = self.regs.get(SPI_MISO_DLEN, 0) + 1
            word = int.from_bytes(reply[:4].ljust(4, b"\xff"), "little")
            self.regs[SPI_W0] = word & ((1 << bits) - 1 if bits < 32 else 0xFFFFFFFF)
        self.regs[SPI_CMD] &= ~SPI_CMD_USR  # done at once

    # -- SPI flash ---------------------------------------------------------------------------
    def _attach(self, payload, chk):
        _unpack("<II", payload)
        return 0, b""

    def _set_params(self, payload, chk):
        _unpack("<IIIIII", payload)
        return 0, b""

    def _change_baud(self, payload, chk):
        _unpack("<II", payload)  # the pty carries bytes at any rate: nothing to retune
        return 0, b""

    def _begin(self, payload, chk, inflate=False):
        erase_size, blocks, block_size, offset = _unpack("<IIII", payload)
        end = offset + erase_size
        if offset % SECTOR_SIZE or end > self.flash.size or not block_size:
            raise _Refused(BAD_MESSAGE)
        self.download = None
        erase_end = -(-end // SECTOR_SIZE) * SECTOR_SIZE
        self.flash.erase(offset, erase_end - offset)
        self.download = _Download(offset, erase_end, blocks, block_size, inflate)
        return 0, b""

    def _defl_begin(self, payload, chk):
        return self._begin(payload, chk, inflate=True)

    def _data(self, payload, chk, inflate=False):
        d = self.download
        if len(payload) < 16 or d is None or (d.inflater is not None) != inflate:
            raise _Refused(BAD_MESSAGE)
        size, seq, _, _ = struct.unpack_from("<IIII", payload)
        data = payload[16:]
        if size != len(data) or seq != d.seq or seq >= d.blocks:
            raise _Refused(BAD_MESSAGE)
        if checksum(data) != chk:
            raise _Refused(CHECKSUM_ERROR)
        if inflate:
            try:
                data = d.inflater.decompress(data)
            except zlib.error:
                raise _Refused(INFLATE_ERROR) from None
        else:
            if size != d.block_size:
                raise _Refused(BAD_MESSAGE)
            d.address = d.offset + seq * d.block_size
        self._program(d, data)
        d.seq += 1
        return 0, b""

    def _defl_data(self, payload, chk):
        return self._data(payload, chk, inflate=True)

    def _program(self, d, data):
        if d.address + len(data) > d.end:
            raise _Refused(FLASH_WRITE_ERROR if d.inflater is None else INFLATE_ERROR)
        while data:
            n = DEFL_WRITE - d.address % DEFL_WRITE if d.inflater is not None else len(data)
            self.flash.write(d.address, data[:n])
            d.address += len(data[:n])
            data = data[n:]

    def _md5(self, payload, chk):
        addr, size, _, _ = _unpack("<IIII", payload)
        try:
            data = self.flash.read(addr, size)
        except FlashError:
            raise _Refused(BAD_MESSAGE) from None
        return 0, hashlib.md5(data).hexdigest().encode()

    _HANDLERS = {READ_REG: _read_reg, WRITE_REG: _write_reg, SPI_ATTACH: _attach, SPI_SET_PARAMS: _set_params,
                 CHANGE_BAUDRATE: _change_baud, FLASH_BEGIN: _begin, FLASH_DATA: _data,
                 FLASH_DEFL_BEGIN: _defl_begin, FLASH_DEFL_DATA: _defl_data, SPI_FLASH_MD5: _md5}


class _Refused(Exception):
    def __init__(self, code):
        super().__init__(code)
        self.code = code


def _unpack(fmt, payload):
    if len(payload) != struct.calcsize(fmt):
        raise _Refused(BAD_MESSAGE)
    return struct.unpack(fmt, payload)
