"""Fault injection for the reliability tests: kill this process with SIGKILL at a named point.

``ANIMELIB_FAULT="<point>:<n>"`` makes the process kill itself the n-th time training reaches
``<point>``: ``step`` (after optimisation step n), ``checkpoint`` (right after the checkpoint of
epoch n is on disk) or ``checkpoint-write`` (half-way through writing the checkpoint of epoch n).
Unset (always, outside the tests) it costs one dictionary lookup.
"""

from __future__ import annotations

import os
import signal

ENV = "ANIMELIB_FAULT"


def point(name: str, n: int) -> None:
    """SIGKILL this process if ``ANIMELIB_FAULT`` names this point and count."""
    spec = os.environ.get(ENV)
    if spec is not None and spec == f"{name}:{n}":
        os.kill(os.getpid(), signal.SIGKILL)
