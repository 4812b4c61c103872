"""Notebook kernels (and training workers) that end with the runner: a killed ``animelib run`` leaves no kernel
or worker behind.

jupyter_client starts every kernel in a session of its own (so that it can be interrupted on its own), out
of reach of a signal to the runner's process group, and ipykernel notices a dead parent only by polling
once a second, meanwhile training on and holding the run folder's lock. On Linux a kernel started here
asks the operating system for SIGKILL the moment the runner dies (``prctl(PR_SET_PDEATHSIG)``), and one
whose runner is already gone exits at once; elsewhere ipykernel's polling remains.

Off Windows the kernel talks to the runner over Unix sockets in the temporary folder (jupyter_client's ``ipc``
transport) rather than over unencrypted TCP on localhost, so no other user of the machine can connect to it and
ipykernel has no plain-text warning to print for each notebook.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import tempfile
import uuid

from jupyter_client.manager import AsyncKernelManager
from traitlets import default

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
# Run first in the kernel's process, then replaced by the kernel itself (the setting survives exec).
DIE_WITH_PARENT = (
    "import ctypes, os, signal, sys\n"
    f"ctypes.CDLL(None, use_errno=True).prctl({PR_SET_PDEATHSIG}, signal.SIGKILL, 0, 0, 0)\n"
    "if os.getppid() != int(sys.argv[1]):\n"
    "    sys.exit('animelib: the notebook runner ended before its kernel started')\n"
    "os.execvp(sys.argv[2], sys.argv[2:])\n"
)


def die_with_parent(parent: int) -> None:
    """Ask Linux to SIGKILL this process the moment its parent (pid ``parent``) dies; exit at once if it is already
    gone. For processes started by ``animelib run`` (its training workers); elsewhere nothing happens."""
    if not sys.platform.startswith("linux"):
        return
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        sys.exit("animelib: the runner ended before this worker started")


class RunnerKernelManager(AsyncKernelManager):
    """The kernel manager ``animelib run`` gives papermill: each kernel ends when the runner does, and (off
    Windows) it listens on Unix sockets rather than TCP."""

    @default("transport")
    def _transport_default(self) -> str:
        return "tcp" if sys.platform == "win32" else "ipc"

    @default("ip")
    def _ip_default(self) -> str:
        if self.transport != "ipc":
            return super()._ip_default()
        # The sockets are this path plus "-<port>", removed when the kernel shuts down.
        return os.path.join(tempfile.gettempdir(), f"animelib-kernel-{uuid.uuid4().hex[:12]}")

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        cmd = super().format_kernel_cmd(extra_arguments)
        if not sys.platform.startswith("linux"):
            return cmd
        return [sys.executable, "-c", DIE_WITH_PARENT, str(os.getpid()), *cmd]
