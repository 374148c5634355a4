"""Every error xray-tasks raises on purpose, and the exit code each one ends with.

The tree::

    XrayTasksError                 exit 10  (never raised itself)
    ├── SettingsError              exit 11  a setting is missing, malformed or contradicts another
    ├── ReportError                exit 12  report missing, empty, unreadable, malformed or of the wrong format
    │   └── StaleReportError       exit 13  report older than the recorded test run
    ├── TemplateError              exit 14  template not found, syntax error, undefined variable, bad JSON
    ├── AuthenticationError        exit 15  Xray refused the credentials or the token (401/403 on auth)
    ├── XrayRejectedError          exit 16  Xray answered 4xx to an import; carries Xray's own error text
    ├── XrayUnavailableError       exit 17  network down, DNS, timeout, 5xx, 429 after every retry
    ├── ImportUncertainError       exit 18  the request may have been processed; not retried to avoid a duplicate
    ├── VerificationError          exit 19  read back, the Test Execution misses runs or records other statuses
    ├── ShardRecordError           exit 20  a CI shard's record is missing, malformed or names another execution
    ├── ImportFailed               the code of the error it wraps: one request failed, others may have landed
    ├── CheckFailed                the code of the error it wraps: the import landed, a check after it failed
    └── Interrupted                exit 130 (Ctrl-C) or 143 (SIGTERM), as a shell would: the step stopped

A SIGTERM is raised as :class:`Terminated` (a ``KeyboardInterrupt``) while a task runs, so both
interrupts unwind the same way: temporary files are removed and the message says what may have landed.

Each error's ``str()`` is one line that says what went wrong and what to do. No error message ever
contains a client secret or a token: they are built from settings that hold those behind ``repr=False``
and from Xray's response bodies, never from request headers, and :mod:`xray_tasks.redaction` scrubs
every line on its way out all the same.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence

    from xray_tasks.importer import ImportOutcome

__all__ = [
    "AuthenticationError",
    "CheckFailed",
    "ImportFailed",
    "ImportUncertainError",
    "Interrupted",
    "ReportError",
    "SettingsError",
    "ShardRecordError",
    "StaleReportError",
    "TemplateError",
    "Terminated",
    "VerificationError",
    "XrayRejectedError",
    "XrayTasksError",
    "XrayUnavailableError",
    "one_line",
    "some",
]


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def one_line(text: str) -> str:
    """``text`` as one printable line: whitespace runs become one space, other control characters (an
    escape sequence in a server's answer, say) are shown escaped instead of acting on the terminal."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", " ".join(text.split()))


def some(items: Sequence[object], shown: int = 3) -> str:
    """``a.xml, b.xml, c.xml and 47 more``: a list of files stays one readable line."""
    names = ", ".join(str(p) for p in items[:shown])
    return f"{names} and {len(items) - shown} more" if len(items) > shown else names


class XrayTasksError(Exception):
    """Base of every error that ends a task with a one-line message."""

    #: a class attribute; :class:`ImportFailed` sets it per instance to the code of the error it wraps
    exit_code: int = 10

    def __init__(self, message: str, hint: str | None = None) -> None:
        self.message = one_line(message)
        self.hint = one_line(hint) if hint else None
        super().__init__(self.message)

    def __str__(self) -> str:
        return f"{self.message} — {self.hint}" if self.hint else self.message


class SettingsError(XrayTasksError):
    exit_code = 11


class ReportError(XrayTasksError):
    exit_code = 12


class StaleReportError(ReportError):
    exit_code = 13


class TemplateError(XrayTasksError):
    exit_code = 14


class AuthenticationError(XrayTasksError):
    exit_code = 15


class XrayRejectedError(XrayTasksError):
    """Xray answered with a 4xx; ``status`` and Xray's own ``error`` text are kept."""

    exit_code = 16

    def __init__(self, message: str, hint: str | None = None, *, status: int | None = None,
                 xray_error: str | None = None) -> None:
        super().__init__(message, hint)
        self.status = status
        self.xray_error = xray_error


class XrayUnavailableError(XrayTasksError):
    exit_code = 17


class ImportUncertainError(XrayTasksError):
    exit_code = 18


class VerificationError(XrayTasksError):
    """What Xray recorded is not what was sent: runs are missing, or hold other statuses."""

    exit_code = 19


class ShardRecordError(XrayTasksError):
    """``finalize`` cannot account for every shard: a record is missing, malformed, or names another Test
    Execution."""

    exit_code = 20


class ImportFailed(XrayTasksError):
    """A request of an import failed; ``outcome`` holds what had been imported before (and beside) it.

    It ends with the exit code of ``cause``; its message adds which requests landed, so a rerun that
    would duplicate them is not started blindly."""

    def __init__(self, cause: XrayTasksError, outcome: ImportOutcome, *, failed: int = 1) -> None:
        landed = len(outcome.results)
        message = cause.message
        if landed:
            more = f"; {failed - 1} other request(s) failed too" if failed > 1 else ""
            message += (f" ({landed} of {landed + failed} requests were imported, into "
                        f"{', '.join(outcome.keys)}{more})")
        super().__init__(message, cause.hint)
        self.cause = cause
        self.outcome = outcome
        self.exit_code = cause.exit_code


class CheckFailed(XrayTasksError):
    """The import landed, but a check after it failed (the read-back, the shard record). It ends with the
    code of ``cause``; ``outcome`` (what landed) and ``details`` (what the checks found) go into the summary."""

    def __init__(self, cause: XrayTasksError, outcome: ImportOutcome, details: dict[str, Any]) -> None:
        super().__init__(cause.message, cause.hint)
        self.cause = cause
        self.outcome = outcome
        self.details = details
        self.exit_code = cause.exit_code


class Interrupted(XrayTasksError):
    """The step was stopped by a signal; ends with 128 + its number (130 for Ctrl-C, 143 for SIGTERM)."""

    def __init__(self, message: str, hint: str | None = None, *, signum: int = 2,
                 outcome: ImportOutcome | None = None) -> None:
        super().__init__(message, hint)
        self.signum = signum
        self.exit_code = 128 + signum
        self.outcome = outcome


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C's ``KeyboardInterrupt`` would be, so both unwind the same way."""

    signum = 15
