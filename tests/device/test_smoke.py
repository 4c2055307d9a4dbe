import devtest


def test_device_package_imports():
    import mpboot_fw

    assert mpboot_fw.__name__ == "mpboot_fw"


def test_raises_helper():
    e = devtest.raises(ValueError, int, "x")
    assert isinstance(e, ValueError)
