"""mpboot host tools: keys, signing, images, repositories, flashing, and the emulated board."""

__version__ = "0.1.0"
