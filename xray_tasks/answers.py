"""What Xray's answers mean: every status and every transport failure decided in one place, without I/O.

:func:`decipher` takes an answer (status, headers, body) and what the request was (:class:`Kind`), and
returns a :class:`Verdict`: success, or the error to raise, whether another attempt is worth it and how
long to wait, or whether the token must be renewed first. :func:`classify_failure` does the same for a
request that got no answer (a row of :data:`FAILURES`). :func:`import_result` and :func:`token_in` read
the bodies of successful answers, :func:`features_imported` and :func:`export_content` those of the
Cucumber feature endpoints (by their shape and bytes, not their status or content type), and
:func:`feature_import_refusal` / :func:`feature_export_refusal` give those endpoints' 400s their hints.
The client (:mod:`xray_tasks.client`) only sends and follows verdicts.

The rules (the README's "Reliability" section says the same):

* 2xx is success; a creating import whose 2xx body cannot be read *may* have created a Test Execution;
* 401 on authentication, or 400/403 there, is refused credentials; 401 on a request that carried a
  Cloud token asks for a new token once ("another region" is a wrong region, not an expired token);
* 429 and 502/503/504 are retried (429 waits ``Retry-After``, capped); after the last attempt they are
  :class:`XrayUnavailableError`;
* 500 is retried only when the request cannot duplicate anything; for a creating import it is
  :class:`ImportUncertainError`;
* other 4xx are Xray's refusal, with Xray's own text and a hint; 403, 404 and 413 have their own hints;
* a request that broke off before its body was sent whole is retried whatever it was: Xray cannot have
  imported it. One that broke off after it is retried only when it cannot duplicate anything.
"""

from __future__ import annotations

import enum
import json
import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from xray_tasks.errors import (
    AuthenticationError,
    ImportUncertainError,
    SettingsError,
    XrayRejectedError,
    XrayTasksError,
    XrayUnavailableError,
)

__all__ = ["FAILURES", "ZIP_MAGIC", "Answer", "Failure", "FeaturesImported", "IssueRef", "Kind", "Verdict",
           "classify_failure", "decipher", "error_text", "export_content", "feature_export_refusal",
           "feature_import_refusal", "features_imported", "graphql_data", "import_result", "link_problems",
           "retry_after", "token_in"]

RETRY_STATUSES = frozenset({429, 502, 503, 504})
#: longest wait a Retry-After may ask for (longer asks are capped, not obeyed)
MAX_RETRY_AFTER = 60.0
#: most characters of Xray's error text kept in a message
ERROR_TEXT_LIMIT = 300
#: an Xray / Jira issue key as it may reach a terminal or GITHUB_OUTPUT
ISSUE_KEY = re.compile(r"[A-Z][A-Z0-9_]*-[0-9]{1,18}")


class Kind(enum.Enum):
    """What a request does, as far as retrying it is concerned."""

    AUTHENTICATE = "authenticate"  # idempotent; its refusals are about the credentials
    CREATE = "create"  # may create a Test Execution: never sent twice once it may have landed
    UPDATE = "update"  # imports into an existing Test Execution: sending it again changes nothing
    READ = "read"  # GET and queries

    @property
    def idempotent(self) -> bool:
        return self is not Kind.CREATE


@dataclass(frozen=True)
class Answer:
    """An HTTP answer read (up to a cap) into memory."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    method: str = "POST"
    url: str = ""  # without the query
    truncated: bool = False  # the body was longer than the cap; ``body`` is its start

    @property
    def content_type(self) -> str:
        return str(self.headers.get("content-type", "")).split(";")[0].strip().lower()

    def json(self) -> Any:
        """The body as JSON, or None when it is not JSON."""
        if self.truncated:
            return None
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError, RecursionError):
            return None


@dataclass(frozen=True)
class Verdict:
    """What to do about an answer or a failure."""

    error: XrayTasksError | None = None  # None: success
    retry: bool = False  # another attempt may succeed (raise ``error`` if none is left)
    wait: float | None = None  # seconds the server asked to wait before it
    reauth: bool = False  # drop the token, authenticate again, send once more
    note: str = ""  # what a retry line says

    @property
    def ok(self) -> bool:
        return self.error is None and not self.reauth


SUCCESS = Verdict()


# -- answers ------------------------------------------------------------------------------------------------


def decipher(answer: Answer, *, action: str, kind: Kind, cloud: bool, with_token: bool = False,
             renewed: bool = False) -> Verdict:
    """The meaning of ``answer`` to a request that does ``kind``.

    ``cloud``: the deployment (for hints); ``with_token``: the request carried a Cloud token, so a 401 may
    just mean the token must be renewed, unless ``renewed`` says it already was."""
    status = answer.status
    if 200 <= status < 300:
        if answer.truncated and kind is Kind.CREATE:
            return Verdict(ImportUncertainError(
                f"{action}: Xray answered {status} with a body over {len(answer.body) // 2**20} MiB that was not "
                "read to its end; the Test Execution may have been created",
                "look for a new Test Execution in the project before running again"))
        if answer.truncated:
            return Verdict(XrayRejectedError(
                f"{action}: the answer from {answer.url} was over {len(answer.body) // 2**20} MiB and was not read",
                "check XRAY_BASE_URL: no Xray answer is that large", status=status))
        return SUCCESS
    text = error_text(answer)
    if kind is Kind.AUTHENTICATE and status in (400, 401, 403):
        return Verdict(auth_refused(text, cloud))
    if status == 401:
        if "another region" in text.lower():
            return Verdict(auth_refused(text, cloud))
        if with_token and not renewed:
            return Verdict(reauth=True, note=f"{action}: token refused; authenticating again")
        if with_token:
            return Verdict(AuthenticationError(
                f"{action}: Xray refused a token it had just issued: {text}",
                "the client id/secret were accepted but the request was not: check that XRAY_BASE_URL/XRAY_REGION "
                "point at the Xray that holds the project, and that the API key is still enabled"))
        return Verdict(auth_refused(text, cloud))
    if status in RETRY_STATUSES:
        wait = retry_after(answer.headers.get("retry-after")) if status == 429 else None
        return Verdict(_status_error(answer, action, text), retry=True, wait=wait,
                       note=f"{action}: Xray answered {status}: {text}")
    if status == 404 and kind is Kind.READ and isinstance(answer.json(), dict):  # Xray's own "not found"
        return Verdict(XrayRejectedError(f"{action}: Xray answered 404: {text}", hint_for(text), status=status,
                                         xray_error=text))
    if status == 500 and not kind.idempotent:
        return Verdict(ImportUncertainError(
            f"{action}: Xray answered 500 ({text}); the Test Execution may or may not have been created, so it "
            "was not sent again", "look for a new Test Execution in the project before running again"))
    if status == 500:
        return Verdict(_status_error(answer, action, text), retry=True, note=f"{action}: Xray answered 500: {text}")
    return Verdict(_status_error(answer, action, text))


def _status_error(answer: Answer, action: str, text: str) -> XrayTasksError:
    status = answer.status
    where = f"{answer.method} {answer.url}"
    if status == 403:
        return XrayRejectedError(f"{action}: Xray answered 403 Forbidden: {text}",
                                 "the API key's Jira user needs permission to create issues in the project",
                                 status=status, xray_error=text)
    if status == 404:
        return XrayRejectedError(f"{action}: {where} answered 404 Not Found: {text}",
                                 "check XRAY_BASE_URL (Cloud: https://xray.cloud.getxray.app, no path; Server/DC: "
                                 "the Jira base URL) and XRAY_DEPLOYMENT", status=status, xray_error=text)
    if status == 413:
        return XrayRejectedError(f"{action}: Xray answered 413, the request is too large: {text}",
                                 "split the report into several files, or lower XRAY_MAX_REQUEST_MB so xray-tasks "
                                 "splits it", status=status, xray_error=text)
    if status == 429:
        return XrayUnavailableError(f"{action}: Xray kept answering 429 Too Many Requests: {text}",
                                    "Xray Cloud allows 300 requests per 5 minutes on Standard; wait and run again, "
                                    "or raise XRAY_MAX_RETRIES / XRAY_RETRY_BUDGET")
    if status >= 500:
        return XrayUnavailableError(f"{action}: Xray answered {status}: {text}", "Xray is having trouble; run again "
                                    "later")
    if status >= 400:
        return XrayRejectedError(f"{action}: Xray answered {status}: {text}", hint_for(text), status=status,
                                 xray_error=text)
    return XrayRejectedError(f"{action}: unexpected HTTP {status} from {where}: {text}", "check XRAY_BASE_URL",
                             status=status, xray_error=text)


def auth_refused(detail: str, cloud: bool) -> AuthenticationError:
    """Refused credentials, or a Cloud region mix-up, with the fix for each."""
    if "another region" in detail.lower():
        return AuthenticationError(f"Xray refused the request: {detail}",
                                   "your Xray data lives in a regional host: set XRAY_REGION=us, eu or au "
                                   "(or XRAY_BASE_URL to https://<region>.xray.cloud.getxray.app)")
    if cloud:
        return AuthenticationError(f"Xray refused the client id/secret: {detail}",
                                   "check XRAY_CLIENT_ID/XRAY_CLIENT_SECRET (Jira > Apps > Xray > API Keys) and "
                                   "that XRAY_BASE_URL/XRAY_REGION point at your Xray")
    return AuthenticationError(f"Xray refused the Server/DC credentials: {detail}",
                               "check XRAY_SERVER_TOKEN or XRAY_SERVER_USER/XRAY_SERVER_PASSWORD")


_HINTS: tuple[tuple[Callable[[str], bool], str], ...] = (
    (lambda t: "does not exist for field 'key'" in t,  # Jira's JQL on a key no issue has
     "check the issue key given (--test-exec / XRAY_TEST_EXEC_KEY, --test-plan / XRAY_TEST_PLAN_KEY): no issue has "
     "it"),
    (lambda t: "status" in t and "does not exist" in t,
     "Xray JSON statuses differ per deployment: Cloud uses PASSED/FAILED, Server/DC PASS/FAIL — write the report "
     "for your deployment (pytest-jira-xray: --cloud only for Cloud)"),
    (lambda t: "project" in t and "required" in t,
     "set XRAY_PROJECT_KEY or --project (for Xray JSON, or info.project inside the report)"),
    (lambda t: "project" in t and ("no project" in t or "not found" in t or "retrieving project" in t),
     "check XRAY_PROJECT_KEY / --project: it must be an existing Jira project key"),
    (lambda t: "environment" in t, "use Test Environments that exist in the project (XRAY_TEST_ENVIRONMENTS / "
     "--test-env)"),
    (lambda t: "summary" in t,
     "give the Test Execution a summary (--var summary=... with templates, or info.summary in Xray JSON)"),
    (lambda t: "xrayfields" in t, "the info template may only put testPlanKey and environments in xrayFields"),
    (lambda t: "test plan" in t or "testplan" in t,
     "check XRAY_TEST_PLAN_KEY / --test-plan: it must be an existing Test Plan issue"),
    (lambda t: "test execution" in t or "testexec" in t,
     "check XRAY_TEST_EXEC_KEY / --test-exec: it must be an existing Test Execution issue"),
    (lambda t: "issuetype" in t or "issue type" in t, "check fields.issuetype in the info template"),
    (lambda t: "permission" in t, "the API key's Jira user needs permission to edit that issue, and the issue must "
     "exist: check the keys given"),
    (lambda t: "fixversion" in t or "version" in t,
     "check XRAY_FIX_VERSION / --fix-version: the version must exist in the project"),
)


def hint_for(text: str) -> str:
    """The fix for a 400, from Xray's own words."""
    low = text.lower()
    return next((hint for matches, hint in _HINTS if matches(low)),
                "fix what Xray names above, then run again (add --dry-run to see the request)")


# -- bodies -------------------------------------------------------------------------------------------------


_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9]*)?[^<>]*>")


def error_text(answer: Answer) -> str:
    """Xray's own error message: JSON ``error``/``message``, Jira ``errorMessages``/``errors``, a JSON string,
    or the visible text of a page. Linear in the body's size, whatever the body."""
    body = answer.json()
    if isinstance(body, dict):
        for key in ("error", "message", "errorMessage"):
            value = body.get(key)
            if isinstance(value, str) and value.strip():
                return _clip(value)
        msgs = [m for m in body.get("errorMessages") or [] if isinstance(m, str)]
        errs = body.get("errors")
        if isinstance(errs, dict):
            msgs += [f"{k}: {v}" for k, v in errs.items()]
        elif isinstance(errs, list):
            msgs += [str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errs]
        if msgs:
            return _clip("; ".join(msgs))
    if isinstance(body, str):
        return _clip(body)
    text = answer.body[:256 * 1024].decode("utf-8", errors="replace")
    if "<" in text:
        text = _visible_text(text)
    return _clip(text) or f"HTTP {answer.status} with an empty body"


def _visible_text(html: str) -> str:
    """The text of an HTML page without its tags, scripts and styles, in one pass over the tags."""
    out: list[str] = []
    pos = 0
    hidden: str | None = None
    for tag in _TAG.finditer(html):
        if hidden is None:
            out.append(html[pos:tag.start()])
        name = (tag.group(2) or "").lower()
        if hidden is None and not tag.group(1) and name in ("script", "style"):
            hidden = name
        elif hidden == name and tag.group(1):
            hidden = None
        pos = tag.end()
    if hidden is None:
        out.append(html[pos:])
    return " ".join(" ".join(out).split())


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text[:ERROR_TEXT_LIMIT] + "…" if len(text) > ERROR_TEXT_LIMIT else text


def retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds a ``Retry-After`` asks for, capped to :data:`MAX_RETRY_AFTER`; None when absent or unreadable
    (a server's header is untrusted input: huge numbers and dates are capped, not obeyed)."""
    if not value:
        return None
    value = value.strip()[:100]
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - (time.time() if now is None else now)
        except (TypeError, ValueError, OverflowError, IndexError):
            return None
    if not math.isfinite(seconds):
        return None
    return min(MAX_RETRY_AFTER, max(0.0, seconds))


_BARE_TOKEN = re.compile(r"[A-Za-z0-9._~+/=-]{16,8192}")


def token_in(answer: Answer) -> str | None:
    """The token in an authenticate answer: Xray sends a JSON string (the JWT in quotes); a bare token is
    taken too, as curl users' ``tr -d '"'`` and other clients do. Anything else is not a token."""
    value = answer.json()
    if value is None:
        text = answer.body.decode("utf-8", errors="replace").strip()
        return text if _BARE_TOKEN.fullmatch(text) else None
    return value.strip() if isinstance(value, str) and _BARE_TOKEN.fullmatch(value.strip()) else None


@dataclass(frozen=True)
class Created:
    """The issue a successful import answered with."""

    key: str
    id: str | None
    self_link: str | None
    body: dict[str, Any]


def import_result(answer: Answer, action: str, api: str = "Xray's import API") -> Created:
    """The Test Execution a successful import answer names: Cloud ``{id,key,self}``, Server/DC
    ``{"testExecIssue": {...}}`` (Jira's create answer, ``{id,key,self}``, with ``api="Jira's issue API"``).
    A key that is not a Jira issue key is refused, so nothing the server says reaches a terminal or
    ``GITHUB_OUTPUT`` unchecked."""
    body = answer.json()
    issue = body.get("testExecIssue", body) if isinstance(body, dict) else None
    key = issue.get("key") if isinstance(issue, dict) else None
    if not isinstance(body, dict) or not isinstance(issue, dict) or not isinstance(key, str):
        raise XrayRejectedError(
            f"{action}: Xray answered {answer.status} but not with a Test Execution "
            f"({answer.content_type or 'no content type'}: {error_text(answer)[:120]})",
            f"check XRAY_BASE_URL and XRAY_DEPLOYMENT: the answer did not come from {api}")
    if not ISSUE_KEY.fullmatch(key):
        raise XrayRejectedError(f"{action}: Xray answered {answer.status} with {key[:40]!r}, which is not an issue key",
                                f"check XRAY_BASE_URL: the answer did not come from {api}")
    issue_id = issue.get("id")
    link = issue.get("self")
    return Created(key=key, id=str(issue_id) if isinstance(issue_id, str | int) else None,
                   self_link=link if isinstance(link, str) else None, body=body)


# -- Cucumber features (contract §13-14) --------------------------------------------------------------------


@dataclass(frozen=True)
class IssueRef:
    """A Test or Precondition a feature import created or updated."""

    key: str
    id: str | None


@dataclass(frozen=True)
class FeaturesImported:
    """What a feature import answered: the Tests and Preconditions, and the per-file errors."""

    tests: tuple[IssueRef, ...]
    preconditions: tuple[IssueRef, ...]
    errors: tuple[str, ...]


_PRECONDITION_TYPE = re.compile(r"pre-?\s*condition", re.IGNORECASE)


def features_imported(answer: Answer, action: str) -> FeaturesImported:
    """A successful feature import's answer, read by its JSON shape rather than its status: Cloud's
    ``{"updatedOrCreatedTests", "updatedOrCreatedPreconditions", "errors"}``; Server/DC's array of issues
    (``issueType.name`` "Test" or "Pre-Condition"), or, when some file had problems, its object
    ``{"message", "testIssues", "preconditionIssues"}`` with one problem per line. An ``{"error": ...}`` is
    a refusal; keys that are not issue keys and any other shape mean the answer is not Xray's."""
    body = answer.json()
    if isinstance(body, dict) and "updatedOrCreatedTests" in body:
        tests, preconditions = body.get("updatedOrCreatedTests"), body.get("updatedOrCreatedPreconditions")
        errors = body.get("errors")
        found = FeaturesImported(_refs(tests, action), _refs(preconditions, action),
                                 tuple(_clip(str(e)) for e in errors if str(e).strip())
                                 if isinstance(errors, list) else ())
    elif isinstance(body, list):
        found = _server_issues(body, (), action)
    elif isinstance(body, dict) and ("testIssues" in body or "preconditionIssues" in body):
        message = body.get("message")
        problems = tuple(_clip(line) for line in str(message or "").splitlines() if line.strip())
        issues = [*_listed(body.get("testIssues")), *_listed(body.get("preconditionIssues"))]
        found = _server_issues(issues, problems, action)
    elif isinstance(body, dict) and any(isinstance(body.get(k), str) for k in ("error", "message")):
        text = error_text(answer)
        raise XrayRejectedError(f"{action}: Xray answered {answer.status}: {text}", hint_for(text),
                                status=answer.status, xray_error=text)
    else:
        raise XrayRejectedError(f"{action}: Xray answered {answer.status} but not with the Tests it imported "
                                f"({answer.content_type or 'no content type'}: {error_text(answer)[:120]})",
                                "check XRAY_BASE_URL and XRAY_DEPLOYMENT: the answer did not come from Xray's "
                                "feature import")
    return found


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _ref(item: Any, action: str) -> IssueRef:
    key = item.get("key") if isinstance(item, dict) else None
    if not isinstance(key, str) or not ISSUE_KEY.fullmatch(key):
        shown = repr(key)[:40] if key is not None else "an item without a key"
        raise XrayRejectedError(f"{action}: Xray listed {shown} among the imported issues, which is not an issue "
                                "key", "check XRAY_BASE_URL: the answer did not come from Xray's feature import")
    issue_id = item.get("id")
    return IssueRef(key, str(issue_id) if isinstance(issue_id, str | int) else None)


def _refs(items: Any, action: str) -> tuple[IssueRef, ...]:
    return tuple(_ref(item, action) for item in _listed(items))


def _server_issues(items: list[Any], errors: tuple[str, ...], action: str) -> FeaturesImported:
    """Server/DC lists Tests and Preconditions together; ``issueType.name`` tells them apart."""
    tests: list[IssueRef] = []
    preconditions: list[IssueRef] = []
    for item in items:
        kind = item.get("issueType") if isinstance(item, dict) else None
        name = kind.get("name") if isinstance(kind, dict) else None
        is_precondition = isinstance(name, str) and _PRECONDITION_TYPE.fullmatch(name.strip()) is not None
        (preconditions if is_precondition else tests).append(_ref(item, action))
    return FeaturesImported(tuple(tests), tuple(preconditions), errors)


def feature_import_refusal(error: XrayTasksError, *, test_prefix: str, precondition_prefix: str) -> XrayTasksError:
    """A refused feature import, with the hint for the most common cause of a 400 (contract §18): the
    files' tag prefixes differ from the instance's Cucumber settings, so no scenario names a Test Xray
    knows (or every key it reads is wrong). Other errors are returned as they are."""
    if not isinstance(error, XrayRejectedError) or error.status != 400:
        return error
    hint = (f"a tag-prefix mismatch is the common cause: the files' key tags must use the prefixes of Xray's "
            f"Cucumber settings (read here as @{test_prefix}<KEY> and #@{precondition_prefix}<KEY>, "
            "XRAY_CUCUMBER_TEST_PREFIX / XRAY_CUCUMBER_PRECONDITION_PREFIX); --dry-run shows what each scenario "
            "maps to")
    return XrayRejectedError(error.message, hint, status=error.status, xray_error=error.xray_error)


def feature_export_refusal(error: XrayTasksError) -> XrayTasksError:
    """A refused feature export (unknown keys, a filter that does not exist, no Cucumber Test among them),
    with the fix; other errors are returned as they are."""
    if not isinstance(error, XrayRejectedError) or error.status != 400:
        return error
    return XrayRejectedError(error.message, "check --keys / --filter: existing Test, Test Set, Test Execution, "
                             "Test Plan or requirement keys that reach Cucumber Tests, or a saved filter's id",
                             status=error.status, xray_error=error.xray_error)


#: how a zip file starts (a local file header, or the end record of an empty zip)
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")


def export_content(head: bytes, answer: Answer, action: str) -> str:
    """What a successful feature export holds, judged by its first bytes rather than its content type
    (Xray sends the zip as ``application/zip`` or ``application/octet-stream``): ``"zip"``, or
    ``"feature"`` for one plain ``.feature`` text (Server/DC without ``fz=true``). JSON, a web page or
    nothing at all are an XrayRejectedError."""
    if head.startswith(ZIP_MAGIC):
        return "zip"
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")
    if text and not text.startswith(("{", "[", "<")):
        return "feature"
    shown = error_text(Answer(answer.status, answer.headers, head)) if text else "an empty body"
    raise XrayRejectedError(f"{action}: Xray answered {answer.status} without the feature files "
                            f"({answer.content_type or 'no content type'}: {shown[:160]})",
                            "check XRAY_BASE_URL and XRAY_DEPLOYMENT: the answer did not come from Xray's export")


# -- GraphQL and Server/DC links (contract §9, §15) ----------------------------------------------------


def graphql_data(answer: Answer, action: str) -> dict[str, Any]:
    """The ``data`` of a successful GraphQL answer (contract §9). GraphQL reports its errors with HTTP 200
    in ``errors[]``: those become :class:`XrayRejectedError` with Xray's own messages, as does an answer
    that is not GraphQL at all (a wrong base URL)."""
    body = answer.json()
    if not isinstance(body, dict) or not ("data" in body or "errors" in body):
        raise XrayRejectedError(f"{action}: the answer from {answer.url} is not a GraphQL answer "
                                f"({answer.content_type or 'no content type'}: {error_text(answer)[:120]})",
                                "check XRAY_BASE_URL and XRAY_DEPLOYMENT: GraphQL is Xray Cloud's API")
    errors = body.get("errors")
    if errors:
        items = errors if isinstance(errors, list) else [errors]
        text = _clip("; ".join(str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in items))
        raise XrayRejectedError(f"{action}: Xray answered: {text}", hint_for(text), status=answer.status,
                                xray_error=text)
    data = body.get("data")
    if not isinstance(data, dict):
        raise XrayRejectedError(f"{action}: Xray's GraphQL answer holds no data",
                                "check XRAY_BASE_URL: the answer did not come from Xray's GraphQL API")
    return data


def link_problems(answer: Answer) -> list[str]:
    """What Xray Server/DC's ``…/api/testplan/{key}/testexecution`` answered against a link: it answers 200
    in every case, with ``[]`` for success and a list of messages for what it refused (contract §15.2)."""
    body = answer.json()
    if not isinstance(body, list):
        return [f"the answer was not a list of messages ({answer.content_type or 'no content type'}: "
                f"{error_text(answer)[:120]})"]
    return [one for one in (_clip(str(m)) for m in body) if one]


# -- requests that got no answer ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Failure:
    """How one kind of transport failure reads and whether it may be retried.

    ``may_have_landed``: the request may have reached Xray whole and been processed, so it is retried only
    when it cannot duplicate anything; otherwise it is always safe to send again (``retry``)."""

    what: str  # formatted with host, reason, timeout, deadline
    hint: str
    retry: bool = True
    may_have_landed: bool = False
    error: type[XrayTasksError] = XrayUnavailableError


class DeadlineExpired(Exception):
    """The request's :class:`~xray_tasks.deadline.Deadline` cut it short."""


_CERT = "CERTIFICATE_VERIFY_FAILED"

#: transport exception -> how it reads; the first row whose class (and predicate) matches wins
FAILURES: tuple[tuple[type[Exception], Callable[[Exception], bool], Failure], ...] = (
    (DeadlineExpired, lambda e: True,
     Failure("no complete answer within XRAY_DEADLINE={deadline:g}s", "raise XRAY_DEADLINE for very large reports "
             "or slow links", may_have_landed=True)),
    (httpx.ConnectTimeout, lambda e: True,
     Failure("connecting to {host} timed out", "check the network and XRAY_BASE_URL; raise XRAY_CONNECT_TIMEOUT "
             "if the link is slow")),
    (httpx.PoolTimeout, lambda e: True,
     Failure("connecting to {host} timed out", "check the network and XRAY_BASE_URL; raise XRAY_CONNECT_TIMEOUT "
             "if the link is slow")),
    (httpx.ProxyError, lambda e: True,
     Failure("the proxy refused the connection to {host}: {reason}", "check XRAY_PROXY / HTTPS_PROXY and its "
             "credentials")),
    (httpx.ConnectError, lambda e: _CERT in str(e),
     Failure("cannot connect to {host}: {reason}", "check XRAY_BASE_URL, or set XRAY_CA_BUNDLE to your CA file",
             retry=False)),
    (httpx.ConnectError, lambda e: True,
     Failure("cannot connect to {host}: {reason}", "check XRAY_BASE_URL, the network, and HTTPS_PROXY")),
    (httpx.WriteTimeout, lambda e: True,
     Failure("sending to {host} failed before the request was complete (WriteTimeout)",
             "check the network; raise XRAY_TIMEOUT for large reports")),
    (httpx.WriteError, lambda e: True,
     Failure("sending to {host} failed before the request was complete (WriteError)",
             "check the network; raise XRAY_TIMEOUT for large reports")),
    (httpx.ReadTimeout, lambda e: True,
     Failure("no answer within {timeout:g}s", "Xray may be slow: raise XRAY_TIMEOUT or run again",
             may_have_landed=True)),
    (httpx.RemoteProtocolError, lambda e: True,
     Failure("the connection closed without an answer ({reason})", "check the network and any proxy between here "
             "and Xray; run again", may_have_landed=True)),
    (httpx.ReadError, lambda e: True,
     Failure("the connection closed without an answer ({reason})", "check the network and any proxy between here "
             "and Xray; run again", may_have_landed=True)),
    (httpx.LocalProtocolError, lambda e: True,
     Failure("the request to {host} could not be built: a setting holds a character HTTP does not allow",
             "check the credentials and URLs for stray characters", retry=False, error=SettingsError)),
    (httpx.UnsupportedProtocol, lambda e: True,
     Failure("{host}: unsupported URL scheme", "use https://", retry=False, error=SettingsError)),
    (httpx.TransportError, lambda e: True,
     Failure("network error talking to {host}: {reason}", "check the network and XRAY_BASE_URL")),
)


def classify_failure(exc: Exception, *, action: str, kind: Kind, host: str, sent_whole: bool, timeout: float,
                     deadline: float) -> Verdict:
    """The verdict on a request that got no (complete) answer, from the row of :data:`FAILURES` it matches."""
    failure = next((f for cls, matches, f in FAILURES if isinstance(exc, cls) and matches(exc)), None)
    if failure is None:
        raise exc
    what = failure.what.format(host=host, reason=reason(exc), timeout=timeout, deadline=deadline)
    if failure.may_have_landed and not sent_whole:  # httpcore reports a failed write as a failed read
        error: XrayTasksError = XrayUnavailableError(
            f"{action}: the connection broke before the report was sent completely ({what}); nothing was imported",
            failure.hint)
        return Verdict(error, retry=failure.retry, note=error.message)
    if failure.may_have_landed and not kind.idempotent:
        return Verdict(ImportUncertainError(
            f"{action}: the report was sent but {what}; Xray may have created the Test Execution, so it was not "
            "sent again", f"look for a new Test Execution in the project before running again; {failure.hint}"))
    error = failure.error(f"{action}: {what}", failure.hint)
    return Verdict(error, retry=failure.retry, note=error.message)


def reason(exc: Exception) -> str:
    """A transport error's cause in a few words."""
    text = str(exc) or type(exc).__name__
    if any(s in text for s in ("Name or service not known", "nodename nor servname", "getaddrinfo",
                               "Temporary failure in name resolution")):
        return "the host name does not resolve (DNS)"
    if "Connection refused" in text:
        return "connection refused"
    if _CERT in text:
        return "the TLS certificate is not trusted (set XRAY_CA_BUNDLE to your CA file)"
    return text.splitlines()[0][:160]
