"""ESP-IDF formats the host writes and the emulated board reads: partition table, otadata."""
