"""The sandbox's error answers: one exception type and every error text it sends.

Texts marked *observed* are the ones real Xray sends (see docs/xray-api.md); the others are the
sandbox's own wording, written in Xray's style (``Error importing results: …``, ``Error assembling issue
data: …``) because Xray's exact text is not known.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["ApiError"]


class ApiError(Exception):
    """An answer other than 200: HTTP ``status`` with the JSON body ``{"error": message}``."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


# -- authentication (401) ---------------------------------------------------------------------

#: observed (xray-automation-js test mocks)
BAD_CLIENT_CREDENTIALS = "Authentication failed. Invalid client credentials!"
TOKEN_MISSING = "Authentication failed. Missing 'Authorization: Bearer <token>' header!"
TOKEN_INVALID = "Authentication failed. Invalid token!"
TOKEN_EXPIRED = "Authentication failed. Token has expired!"
#: observed (xray-action #947, playwright-xray #68)
REGION_MISMATCH = "Xray data is in another region. Contact support to migrate Xray data to current region."
#: Jira Server's usual text for a request without valid credentials
SERVER_UNAUTHENTICATED = "You are not authenticated. Authentication required to use this resource."
AUTH_BODY_MALFORMED = ("Error parsing the authentication request: send a JSON object "
                       '{"client_id": "...", "client_secret": "..."} with Content-Type application/json.')

# -- faults -----------------------------------------------------------------------------------

RATE_LIMITED = "Too many requests: the API rate limit was exceeded. Retry after {seconds} seconds."
UNAVAILABLE = "Service Unavailable: Xray is temporarily unable to handle the request."


# -- request shape (400) ----------------------------------------------------------------------

def unknown_query_params(names: Iterable[str], allowed: Iterable[str]) -> str:
    return (f"Error importing results: unknown query parameter(s): {', '.join(names)}. "
            f"Supported (case-sensitive): {', '.join(allowed)}.")


def wrong_content_type(got: str, expected: str) -> str:
    return f"Error importing results: unsupported Content-Type '{got or 'none'}'; this endpoint expects {expected}."


def unexpected_parts(names: Iterable[str], expected: str) -> str:
    return f"Error importing results: unexpected multipart part(s): {', '.join(names)}; expected {expected}."


def missing_part(name: str) -> str:
    return f"Error importing results: the multipart request has no '{name}' part."


def multipart_malformed(reason: str) -> str:
    return f"Error importing results: malformed multipart/form-data body: {reason}."


NO_PROJECT_OR_EXECUTION = ("Error importing results: a projectKey or a testExecKey query parameter is required "
                           "to import the results!")
BODY_MALFORMED = "Error reading the request body: {reason}."


# -- report content (400) ---------------------------------------------------------------------

def report_rejected(reason: str) -> str:
    return f"Error importing results: {reason}"


NO_TESTS = "Error importing results: the report contains no test results!"


def invalid_status(status: object, allowed: Iterable[str]) -> str:
    return (f"Error importing results: test run status \"{status}\" does not exist! "
            f"Valid statuses: {', '.join(allowed)}.")


UNTAGGED_SCENARIO = ("Error importing results: the scenario \"{name}\" is not tagged with the key of an "
                     "existing Test (e.g. @{prefix}DEMO-2 or @DEMO-2)!")
TEST_INFO_REQUIRED = ("Error importing results: test \"{name}\" has no testKey and its testInfo lacks "
                      "{fields}!")


# -- issues (400) -----------------------------------------------------------------------------

def project_not_found(key: str) -> str:
    """observed (xray-action #689)."""
    return f"Error retrieving Project from Jira with key \"{key}\": No project could be found with key '{key}'."


def test_not_found(key: str) -> str:
    """observed on Server (pytest-jira-xray #18); used for both dialects."""
    return f"Test issue with key {key} not found."


def test_id_not_found(issue_id: str) -> str:
    return f"Test issue with id {issue_id} not found."


def not_a(key: str, wanted: str, actual: str) -> str:
    return f"Error importing results: issue {key} is not a {wanted} (it is a {actual})!"


def test_plan_not_found(key: str) -> str:
    return f"Error importing results: Test Plan with key {key} not found!"


def test_execution_not_found(key: str) -> str:
    return f"Error importing results: Test Execution with key {key} not found!"


def environments_unknown(names: Iterable[str]) -> str:
    """observed (xray-action #692)."""
    listed = ", ".join(f"'{n}'" for n in names)
    return ("Error importing results: the following environments don't exist or are not in the context of "
            f"test execution project: {listed}!")


# -- info / testInfo (400) --------------------------------------------------------------------

def info_not_json(part: str, reason: str) -> str:
    return f"Error importing results: the '{part}' part is not valid JSON: {reason}."


def info_not_object(part: str) -> str:
    return f"Error importing results: the '{part}' part must be a JSON object with a 'fields' object."


#: observed (pytest-jira-xray #18, behave #908, playwright-xray #31)
PROJECT_REQUIRED = "Error assembling issue data: project is required"
#: observed on Cloud (pytest-jira-xray #91)
SUMMARY_REQUIRED_CLOUD = ("Error creating Test Execution - Issue create failed! - summary: You must specify a "
                          "summary of the issue.")
SUMMARY_REQUIRED_SERVER = "Error assembling issue data: summary: You must specify a summary of the issue."
ISSUETYPE_INVALID = "Error assembling issue data: issuetype: valid issue type is required (Test Execution)"


def field_invalid(name: str, expected: str) -> str:
    return f"Error assembling issue data: {name}: {expected}"


def field_cannot_be_set(names: Iterable[str]) -> str:
    """observed (playwright-xray #104)."""
    return "Error assembling issue data: " + ", ".join(
        f"Field {n} cannot be set. It is not on the appropriate screen, or unknown." for n in names)


def xray_fields_invalid(names: Iterable[str]) -> str:
    """observed (xray-action #945, #1211)."""
    return ("Error importing results: xrayFields in info file contains the following invalid fields: "
            f"{', '.join(names)}!")


XRAY_FIELDS_ON_SERVER = ("Error assembling issue data: xrayFields is not supported by Xray Server/Data Center; "
                         "set the Test Plan and Test Environments custom fields (see GET /rest/api/2/field)")


# -- routing ----------------------------------------------------------------------------------

NOT_FOUND = "Not found: no sandbox endpoint at {path}"
METHOD_NOT_ALLOWED = "Method {method} is not allowed on {path}; use {allowed}."


# -- Cucumber feature import and export (contract §13-14) -------------------------------------

#: observed (Cloud; cypress-xray-plugin and xray-maven-plugin test mocks): nothing in the upload was imported
NO_VALID_TESTS = "There are no valid tests imported"
FEATURE_PROJECT_REQUIRED = ("Error importing features: a projectKey or a projectId query parameter is required "
                            "to import the features!")
FEATURE_PROJECT_KEY_REQUIRED = "Error importing features: the projectKey query parameter is required!"
UPDATE_REPOSITORY_INVALID = "Error importing features: updateRepository must be true or false."


def in_file(path: str, message: str) -> str:
    """observed (Cloud ``errors``): one problem of one file."""
    return f"Error in file {path}: {message}"


def zip_refused(reason: str) -> str:
    return f"Error importing features: {reason}."


def test_key_not_found(key: str) -> str:
    """observed (Cloud ``errors``, Server ``message``)."""
    return f"Test with key {key} was not found!"


def precondition_key_not_found(key: str) -> str:
    return f"Precondition with key {key} was not found!"


def requirement_key_not_found(key: str) -> str:
    return f"Requirement with key {key} was not found!"


def wrong_issue_type(key: str, wanted: str, actual: str) -> str:
    return f"Issue with key {key} is not a {wanted} (it is a {actual})!"


def not_a_cucumber_test(key: str, test_type: str) -> str:
    return f"Test with key {key} is not a Cucumber Test (it is a {test_type} Test)!"


def several_test_keys(name: str, keys: Iterable[str]) -> str:
    return f"the scenario \"{name}\" is tagged with more than one Test key: {', '.join(keys)}!"


def unnamed_scenario(line: int) -> str:
    return f"the scenario at line {line} has no name!"


def not_gherkin(reason: str) -> str:
    return f"the file is not valid Gherkin: {reason}"


NOT_UTF8 = "the file is not UTF-8 text!"
EXPORT_NO_KEYS = ("Error exporting features: send keys (Test, Test Execution, Test Plan or requirement keys "
                  "separated by ';') or filter (the id of a saved filter).")
#: observed (Cloud, xray-maven-plugin #49): an unknown or unusable filter id
FILTER_NOT_FOUND = "Error fetching filter information"
FZ_INVALID = "Error exporting features: fz must be true or false."


def export_issue_not_found(keys: Iterable[str]) -> str:
    return f"Error exporting features: the following issues were not found: {', '.join(keys)}!"


def export_type_refused(key: str, issue_type: str) -> str:
    return (f"Error exporting features: issue {key} is a {issue_type}; export Tests, Test Executions, Test Plans "
            "or requirements.")


def no_cucumber_tests(skipped: Iterable[str]) -> str:
    listed = ", ".join(skipped)
    why = f" ({listed} {'is' if ',' not in listed else 'are'} not Cucumber)" if listed else ""
    return f"Error exporting features: there are no Cucumber Tests to export{why}!"

