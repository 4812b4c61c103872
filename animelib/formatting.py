"""One way to print a number, shared by the figures (PNG tables), the report page (HTML tables) and captions."""

from __future__ import annotations

from typing import Any

NA = "n/a"


def format_value(value: Any, digits: int = 3, na: str = NA) -> str:
    """A table cell: ``na`` for None, integers with thousands separators, floats with ``digits`` decimals
    (large floats as whole numbers with separators), anything else as its text."""
    if value is None:
        return na
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.{digits}f}"
    return str(value)


def format_duration(seconds: float) -> str:
    """``45 s``, ``3 min 41 s``, ``2 h 05 min``: a time left or taken, to the second under an hour."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
