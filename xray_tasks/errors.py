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
    └── ImportUncertainError       exit 18  the request may have been processed; not retried to avoid a duplicate

Each error's ``str()`` is one line that says what went wrong and what to do. No error message ever
contains a client secret or a token: they are built from settings that hold those behind ``repr=False``
and from Xray's response bodies, never from request headers.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "AuthenticationError",
    "ImportUncertainError",
    "ReportError",
    "SettingsError",
    "StaleReportError",
    "TemplateError",
    "XrayRejectedError",
    "XrayTasksError",
    "XrayUnavailableError",
    "exit_codes",
    "redact",
    "register_secret",
]


class XrayTasksError(Exception):
    """Base of every error that ends a task with a one-line message."""

    exit_code: ClassVar[int] = 10

    def __init__(self, message: str, hint: str | None = None) -> None:
        self.message = " ".join(message.split())
        self.hint = " ".join(hint.split()) if hint else None
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


def exit_codes() -> dict[str, int]:
    """Name → exit code for every error class (for docs and `doctor`)."""
    out: dict[str, int] = {}
    stack: list[type[XrayTasksError]] = [XrayTasksError]
    while stack:
        cls = stack.pop()
        out[cls.__name__] = cls.exit_code
        stack.extend(cls.__subclasses__())
    return out


_SECRETS: set[str] = set()


def register_secret(value: str | None) -> None:
    """Remember a secret so that :func:`redact` can scrub it from any text we print."""
    if value and len(value) >= 4:
        _SECRETS.add(value)


def redact(text: str) -> str:
    """``text`` with every registered secret replaced by ``<redacted>`` (a last line of defence)."""
    for secret in sorted(_SECRETS, key=len, reverse=True):
        text = text.replace(secret, "<redacted>")
    return text
