"""What goes wrong: the package's one error type, and where its log records go.

Every exception v6scan raises on purpose (a bad target line, an unusable database, a lost Dask
scheduler, a refused response body) is a :class:`V6scanError`; anything else escaping the
package is a bug.  Modules log through ``logging.getLogger(__name__)`` (the ``v6scan`` logger's
children) and never print; :func:`configure_logging` sends the records to stderr or a file, never
to stdout, which carries the machine-readable output.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path

__all__ = ["LOG_FORMAT", "V6scanError", "configure_logging", "logging_config"]

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s"


class V6scanError(Exception):
    """The base of every error v6scan raises on purpose."""


def configure_logging(level: int, log_file: str | Path | None = None) -> Callable[[], None]:
    """Send the ``v6scan`` logger's records at ``level`` and above to stderr, or appended to
    ``log_file``; return the function that undoes it (removes the handler, restores the level).
    Raises :class:`OSError` when ``log_file`` cannot be opened."""
    logger = logging.getLogger("v6scan")
    handler = (logging.FileHandler(log_file, encoding="utf-8") if log_file
               else logging.StreamHandler(sys.stderr))
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    before = logger.level
    logger.addHandler(handler)
    logger.setLevel(level)

    def undo() -> None:
        logger.removeHandler(handler)
        handler.close()
        logger.setLevel(before)

    return undo


def logging_config() -> tuple[int, str | None]:
    """The ``v6scan`` logger's level and log file now (``None``: stderr), for worker processes to
    log the same way."""
    logger = logging.getLogger("v6scan")
    files = [h.baseFilename for h in logger.handlers if isinstance(h, logging.FileHandler)]
    return logger.getEffectiveLevel(), files[0] if files else None
