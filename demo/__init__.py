"""The offline demo (``make demo``): the deployed code path, driven by the bundled emulator."""
