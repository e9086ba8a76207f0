"""The pure domain: no I/O, no framework imports."""
