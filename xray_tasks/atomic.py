"""Replacing a small JSON file atomically: a reader sees the old file or the new one, never half of one."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["replace_json"]


def replace_json(path: Path, data: Any, *, prefix: str, mode: int | None = None, **dump: Any) -> None:
    """Write ``data`` as JSON to a temporary file beside ``path`` (named ``prefix…``, with ``mode`` when
    given, before anything is written) and move it over ``path``.

    Raises OSError when it cannot be written; the temporary file never stays behind, even on an interrupt."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=prefix)
    try:
        if mode is not None:
            os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, **dump)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
