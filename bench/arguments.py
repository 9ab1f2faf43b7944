"""Argument types shared by the benchmark scripts' command lines."""

from __future__ import annotations

import argparse


def positive(text: str) -> int:
    """A whole number of at least 1 (--rounds, --carts), or argparse's usage error."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number of at least 1")
    return int(text)
