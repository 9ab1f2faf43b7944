"""Pure DataFrame -> DataFrame transforms, one module per domain. No I/O happens here."""
