"""Errors that carry a message for the user rather than a traceback."""


class AnimelibError(Exception):
    """An error whose message tells the user what to do; shown without a traceback.

    The command line prints only the message. In Jupyter, ``_render_traceback_`` makes IPython show
    the message alone instead of a stack of library frames.
    """

    def _render_traceback_(self):
        return [f"\x1b[31m{type(self).__name__}\x1b[0m: {self}"]


class DataError(AnimelibError):
    """A data folder or file that cannot be used (missing, empty, unreadable)."""


class ConfigError(AnimelibError, ValueError):
    """A wrong parameter: the message names it and says what is accepted."""


class WeightsUnavailableError(AnimelibError):
    """Pretrained weights that cannot be found in the cache nor downloaded."""
