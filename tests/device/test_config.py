# The device configuration (mpboot.json) on both runtimes: defaults, every field checked.
import devtest
from mpboot_fw import config
from mpboot_fw.config import ConfigError


def test_a_missing_file_gives_the_defaults():
    cfg = config.load("/no/such/mpboot.json")
    assert (cfg.board, cfg.chip_id, cfg.channel, cfg.policy, cfg.health, cfg.health_ms, cfg.state) == (
        None, None, "stable", "every-boot", None, 10000, "mpboot")


def test_a_full_document():
    cfg = config.check({"board": "esp32-4mb", "chip_id": 0, "channel": "beta", "policy": "trial-only",
                        "health": "app.health:check", "health_ms": 2500, "state": "mpboot"})
    assert (cfg.board, cfg.chip_id, cfg.channel, cfg.policy, cfg.health, cfg.health_ms) == (
        "esp32-4mb", 0, "beta", "trial-only", "app.health:check", 2500)


def test_every_bad_field_is_named():
    cases = [
        ([1], "not an object"),
        ({"bord": "x"}, "unknown field bord"),
        ({"board": ""}, "board must be text of 1-32 printable ASCII characters"),
        ({"board": "x" * 33}, "board must be text of 1-32 printable ASCII characters"),
        ({"board": "esp32 4mb"}, "board must be text of 1-32 printable ASCII characters"),
        ({"channel": "b\xe9ta"}, "channel must be text of 1-32 printable ASCII characters"),
        ({"chip_id": "0"}, "chip_id must be an integer from 0 to 65535"),
        ({"chip_id": True}, "chip_id must be an integer from 0 to 65535"),
        ({"policy": "sometimes"}, "policy must be every-boot or trial-only"),
        ({"health": "module"}, "health must be module:function"),
        ({"health": "a:b:c"}, "health must be module:function"),
        ({"health": ":f"}, "health must be module:function"),
        ({"health_ms": 999}, "health_ms must be an integer from 1000 to 3600000"),
        ({"state": 5}, "state must be text of 1-32 printable ASCII characters"),
        ({"__init__": "x"}, "unknown field __init__"),  # an attribute, but not a field
    ]
    for doc, message in cases:
        e = devtest.raises(ConfigError, config.check, doc)
        assert str(e) == message, (doc, str(e))


def test_files_that_are_not_a_configuration():
    assert str(devtest.raises(ConfigError, config.load, devtest.data_path("app.bin"))) == "file over 1 KiB"
    e = devtest.raises(ConfigError, config.load, devtest.data_path("ed25519_edge.json"))
    assert str(e) in ("file over 1 KiB", "not an object")


def test_keys_that_are_not_text_are_refused():
    # MicroPython's json.loads gives int keys for {1: 2}; a dict from any caller may hold them.
    for doc in ({1: "x"}, {"board": "esp32-4mb", 0: 0}, {"": 1}, {"x" * 33: 1}, {"b\u00f6rd": 1}):
        e = devtest.raises(ConfigError, config.check, doc)
        assert str(e) == "unknown field: not text of 1-32 printable ASCII characters", (doc, str(e))


def test_a_lone_surrogate_in_a_text_field_is_refused():
    # CPython cannot encode it (UnicodeEncodeError escaped); MicroPython encoded it as 3 bytes.
    for text in ("\ud800", "esp32-\udfff", "\ud83d\ude00"[:1]):
        for key in ("board", "channel", "health", "state"):
            e = devtest.raises(ConfigError, config.check, {key: text})
            assert str(e) == key + " must be text of 1-32 printable ASCII characters", (key, text, str(e))
