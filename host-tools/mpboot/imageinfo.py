"""Everything about an image file, for `mpboot inspect`: what it is, every field, every check.

Reads signed images, bare app images and merged firmware downloads. Nothing here decides
validity on its own: the app checks are mpboot_fw.appimage's, the manifest and the verdict are
mpboot_fw.image's, so `inspect` and a device never disagree; the Secure Boot v2 signature sector
is read by mpboot.secureboot_v2 and its signatures checked by espsecure.
"""

import datetime

from mpboot import secureboot_v2, signing
from mpboot.errors import MpbootError
from mpboot_fw import appimage, image, trust
from mpboot_fw.blockdev import BytesDevice

FLASH_MODES = {0: "QIO", 1: "QOUT", 2: "DIO", 3: "DOUT"}


def inspect_bytes(data, anchor=None, name="the input"):
    """A JSON-ready dict describing `data` (called `name` in errors); `anchor` (a trust.Root or
    KeyAnchor) adds the verdict."""
    info = {"size": len(data)}
    merged = signing.find_merged_app(data)
    start = 0
    if merged is not None:
        start, _, description = merged
        info["kind"] = "merged firmware"
        info["merged"] = {"app_file_offset": start, "description": description}
    region = data[start:]
    dev = BytesDevice(region)
    try:
        app = appimage.parse(dev)
    except appimage.AppImageError as e:
        raise MpbootError("%s is not an ESP-IDF app image, merged firmware or mpboot signed image "
                          "(app header check failed: %s): give a .bin from a build or a download, or "
                          "an image from `mpboot sign`" % (name, e)) from None
    info["app"] = _app_fields(app)
    info["segments"] = [{"load_address": "0x%08x" % load, "file_offset": start + offset, "length": length}
                        for load, offset, length in app.segment_table]
    info["app_checks"] = _app_checks(region)
    try:
        manifest = image.read_manifest(dev)
    except image.ImageError as e:
        manifest = None
        # Nothing (or no magic) where a manifest would start: unsigned, not damaged.
        unsigned = e.reason == "bad-magic" or len(region) <= image.manifest_offset(app.image_length)
        info.setdefault("kind", "app image (unsigned)" if unsigned else "damaged signed image")
        info["manifest_error"] = None if unsigned else str(e)
    if manifest is not None:
        info["kind"] = "signed image"
        info["manifest"] = _manifest_fields(manifest, region, dev)
        info["layout"] = _layout(manifest, region)
        info["signatures"] = [_signature(keyid, sig, manifest.signed, anchor) for keyid, sig in manifest.signatures]
    info["secure_boot_v2"] = secureboot_v2.inspect(region, app.image_length)
    if anchor is not None:
        info["verdict"] = _verdict(dev, anchor)
    return info


def secure_boot_part(data, info, name="the input"):
    """What the ESP-IDF bootloader checks under Secure Boot v2 in `data` (described by `info`
    from inspect_bytes): the app, its padding and the signature sector, without the manifest
    after it. `espsecure verify-signature --version 2` takes exactly this."""
    sbv2 = info["secure_boot_v2"]
    if sbv2["state"] != "signature blocks":
        raise MpbootError("%s has no Secure Boot v2 signature to extract (its sector at 0x%x is %s): sign "
                          "the app with `espsecure sign-data --version 2`, then `mpboot sign` the result"
                          % (name, sbv2["sector"][0], sbv2["state"]))
    start = info["merged"]["app_file_offset"] if "merged" in info else 0
    return data[start:start + sbv2["sector"][1]]


def _app_fields(app):
    return {
        "image_length": app.image_length,
        "chip": signing.chip_name(app.chip_id),
        "chip_id": app.chip_id,
        "segment_count": app.segments,
        "entry": "0x%08x" % app.entry,
        "flash_mode": FLASH_MODES.get(app.flash_mode, app.flash_mode),
        "flash_size": app.flash_size,
        "flash_freq": app.flash_freq,
        "min_chip_rev_full": app.min_chip_rev_full,
        "max_chip_rev_full": app.max_chip_rev_full,
        "hash_appended": app.hash_appended,
        "descriptor": {
            "project_name": app.project_name,
            "version": app.version,
            "secure_version": app.secure_version,
            "idf_ver": app.idf_ver,
            "compile_time": "%s %s" % (app.date, app.time),
            "app_elf_sha256": app.app_elf_sha256.hex(),
        },
    }


def _app_checks(region):
    try:
        app = appimage.validate(BytesDevice(region))
    except appimage.AppImageError as e:
        return {"valid": False, "failed": str(e)}
    return {"valid": True, "checksum": "0x%02x" % app.checksum,
            "appended_sha256": app.digest.hex() if app.digest else None}


def _manifest_fields(m, region, dev):
    fits = m.payload_len <= len(region)
    actual = image.payload_sha256(dev, m.payload_len) if fits else None
    return {
        "format_version": m.format_version,
        "chip": signing.chip_name(m.chip_id),
        "chip_id": m.chip_id,
        "board": m.board or None,
        "version": m.version,
        "security_version": m.security_version,
        "flags": m.flags,
        "payload_len": m.payload_len,
        "payload_len_matches_app": m.payload_len == m.app.image_length,
        "created": m.created,
        "created_utc": _utc(m.created),
        "payload_sha256": m.payload_sha256.hex(),
        "payload_sha256_matches": actual == m.payload_sha256,
    }


def _layout(m, region):
    reserved = m.offset - image.SECTOR
    sector = region[reserved:m.offset]
    if sector == b"\xff" * len(sector):
        state = "empty"
    elif sector[:1] == bytes([signing.SECURE_BOOT_V2_MAGIC]):
        state = "Secure Boot v2 signature block"
    else:
        state = "other data"
    return {
        "app": [0, m.app.image_length],
        "padding": [m.app.image_length, reserved],
        "secure_boot_sector": [reserved, m.offset],
        "secure_boot_sector_state": state,
        "manifest": [m.offset, m.offset + image.SIGNED_SIZE + image.COUNT_SIZE],
        "signatures": [m.offset + image.SIGNED_SIZE + image.COUNT_SIZE, m.length],
        "trailing_bytes": len(region) - m.length,
    }


def _signature(keyid, sig, signed, anchor):
    entry = {"keyid": keyid, "signature": sig.hex()}
    if anchor is not None:
        keyids, _ = anchor.roles["targets"]
        if keyid not in keyids or keyid not in anchor.keys:
            entry["status"] = "not a targets key"
        else:
            try:
                trust.verify_role(anchor.keys, ((keyid,), 1), signed, {keyid: trust.SlotSignature(sig)}, "targets")
                entry["status"] = "valid"
            except trust.TrustError:
                entry["status"] = "bad signature"
    return entry


def _verdict(dev, anchor):
    try:
        image.verify_slot(dev, anchor)
    except image.ImageError as e:
        return {"valid": False, "reason": e.reason, "error": str(e)}
    return {"valid": True}


def _utc(seconds):
    try:
        return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        return None


def format_text(path, info):
    """The dict from inspect_bytes as lines for a person."""
    app = info["app"]
    desc = app["descriptor"]
    lines = ["%s: %s, %d bytes" % (path, info["kind"], info["size"])]
    if "merged" in info:
        lines.append("  %s" % info["merged"]["description"])
    lines += [
        "app image: %d bytes, %s (chip id %d), %d segments, entry %s, flash %s %s" % (
            app["image_length"], app["chip"], app["chip_id"], app["segment_count"], app["entry"],
            app["flash_mode"], _size(app["flash_size"])),
        "  project %r version %r secure_version %d, ESP-IDF %s, built %s" % (
            desc["project_name"], desc["version"], desc["secure_version"], desc["idf_ver"], desc["compile_time"]),
        "  ELF SHA-256 %s" % desc["app_elf_sha256"],
    ]
    for i, seg in enumerate(info["segments"]):
        lines.append("  segment %d: load %s, file offset 0x%x, %d bytes" % (
            i, seg["load_address"], seg["file_offset"], seg["length"]))
    checks = info["app_checks"]
    if checks["valid"]:
        lines.append("  checks: checksum %s valid, appended SHA-256 %s" % (
            checks["checksum"], "valid" if checks["appended_sha256"] else "absent"))
    else:
        lines.append("  checks: FAILED (%s)" % checks["failed"])
    if "manifest" in info:
        m = info["manifest"]
        lines += [
            "manifest (format %d) at 0x%x:" % (m["format_version"], info["layout"]["manifest"][0]),
            "  version %r, security version %d, %s, created %s" % (
                m["version"], m["security_version"],
                "board " + m["board"] if m["board"] else "any %s board" % m["chip"], m["created_utc"]),
            "  payload %d bytes (%s the app image), SHA-256 %s (%s)" % (
                m["payload_len"], "matches" if m["payload_len_matches_app"] else "DOES NOT MATCH",
                m["payload_sha256"], "matches" if m["payload_sha256_matches"] else "MISMATCH"),
        ]
        layout = info["layout"]
        lines.append("layout: app 0x0-0x%x, 0xFF padding to 0x%x, Secure Boot v2 sector 0x%x-0x%x (%s), "
                     "manifest 0x%x-0x%x, signatures to 0x%x%s" % (
                         layout["app"][1], layout["padding"][1], layout["secure_boot_sector"][0],
                         layout["secure_boot_sector"][1], layout["secure_boot_sector_state"],
                         layout["manifest"][0], layout["manifest"][1], layout["signatures"][1],
                         ", then %d unexpected bytes" % layout["trailing_bytes"] if layout["trailing_bytes"] else ""))
        lines.append("signatures: %d" % len(info["signatures"]))
        for s in info["signatures"]:
            lines.append("  keyid %s%s" % (s["keyid"], " (%s)" % s["status"] if "status" in s else ""))
    else:
        error = info["manifest_error"]
        lines.append("manifest: DAMAGED (%s)" % error if error else "manifest: none (not signed)")
    lines += secureboot_v2.format_text(info["secure_boot_v2"])
    if "verdict" in info:
        v = info["verdict"]
        lines.append("verdict: %s" % ("valid" if v["valid"] else "INVALID: " + v["error"]))
    return "\n".join(lines)


def _size(n):
    return "%dMB" % (n >> 20) if n >= 1 << 20 else "%dKB" % (n >> 10)
