"""What a notebook prints, shown in the terminal while papermill runs it, not only papermill's cell counter.

papermill executes a notebook through nbclient, which receives every message of the kernel. The engine here
is papermill's own with one change: each stream output (``print``, warnings, text progress bars) is echoed
to this process's stdout or stderr as it arrives, and each ``tqdm.auto`` progress bar (a widget in a kernel)
is echoed as one text line every few seconds and when it ends. The executed notebook is written exactly as
papermill writes it. Used by :mod:`animelib.notebooks`.
"""

from __future__ import annotations

import html
import re
import sys
import time

from papermill.clientwrap import PapermillNotebookClient
from papermill.engines import NBClientEngine, papermill_engines
from papermill.log import logger
from papermill.utils import merge_kwargs, remove_args
from tqdm import tqdm

ENGINE = "animelib-stream"
EVERY_S = 5.0  # seconds between two lines of the same progress bar


def _write(text: str, err: bool = False) -> None:
    """Write text to the terminal around papermill's own progress bar (tqdm clears and redraws it)."""
    tqdm.write(text, file=sys.stderr if err else sys.stdout, end="")


class _BarEcho:
    """Text lines from the widget state of ``tqdm.notebook`` bars (an HBox of description, progress, stats)."""

    def __init__(self, every_s: float = EVERY_S):
        self.every_s = every_s
        self.last: dict[str, tuple[float, str]] = {}  # bar -> (time, line) last written

    def update(self, comm_id: str, state: dict[str, dict]) -> None:
        ref = f"IPY_MODEL_{comm_id}"
        for bar_id, model in list(state.items()):
            children = model.get("children") or []
            is_bar = model.get("_model_name") == "HBoxModel" and len(children) == 3
            if is_bar and (bar_id == comm_id or ref in children):
                self._echo(bar_id, [state.get(c.removeprefix("IPY_MODEL_"), {}) for c in children])

    def _echo(self, bar_id: str, parts: list[dict]) -> None:
        left, progress, right = parts
        text = "".join(html.unescape(str(p.get("value", ""))) for p in (left, right)).replace("\u2007", " ")
        text = re.sub(r"\s+", " ", text).strip()
        if not text:
            return
        value, top = progress.get("value", 0), progress.get("max", 0)
        finished = (top and value >= top) or progress.get("bar_style") in ("success", "danger")
        when, line = self.last.get(bar_id, (None, ""))
        now = time.monotonic()
        if text != line and (finished or when is None or now - when >= self.every_s):
            self.last[bar_id] = (now, text)
            _write(f"  {text}\n")


class StreamingClient(PapermillNotebookClient):
    """papermill's notebook client, also echoing streams and progress bars to the terminal as they arrive."""

    def __init__(self, nb_man, km=None, **kw):
        super().__init__(nb_man, km=km, **kw)
        self.bars = _BarEcho()

    def process_message(self, msg, cell, cell_index):
        output = super().process_message(msg, cell, cell_index)
        kind, content = msg["msg_type"], msg.get("content", {})
        if kind == "stream":
            _write(content.get("text", ""), err=content.get("name") == "stderr")
        elif kind in ("comm_open", "comm_msg") and "comm_id" in content:
            self.bars.update(content["comm_id"], self.widget_state)
        return output


class StreamingEngine(NBClientEngine):
    """papermill's nbclient engine (``papermill.engines.NBClientEngine``) with :class:`StreamingClient`."""

    @classmethod
    def execute_managed_notebook(cls, nb_man, kernel_name, log_output=False, stdout_file=None, stderr_file=None,
                                 start_timeout=60, execution_timeout=None, **kwargs):
        kwargs = remove_args(["input_path"], **kwargs)
        safe_kwargs = remove_args(["timeout", "startup_timeout"], **kwargs)
        final_kwargs = merge_kwargs(safe_kwargs, timeout=execution_timeout or kwargs.get("timeout"),
                                    startup_timeout=start_timeout, kernel_name=kernel_name, log=logger,
                                    log_output=log_output, stdout_file=stdout_file, stderr_file=stderr_file)
        return StreamingClient(nb_man, **final_kwargs).execute()


def register() -> str:
    """Make the engine known to papermill (registering again is harmless); its name, for
    ``execute_notebook(engine_name=...)``."""
    papermill_engines.register(ENGINE, StreamingEngine)
    return ENGINE
