"""What a running sandbox is made of: its settings (:class:`Config`) and its live parts (:class:`Runtime`).

:class:`Config` is the one place the settings' defaults live: :class:`~xray_tasks.sandbox.Sandbox`,
:func:`~xray_tasks.sandbox.serve` and ``python -m xray_tasks.sandbox`` all start from ``Config()``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from xray_tasks.sandbox.faults import Faults
from xray_tasks.sandbox.store import Store
from xray_tasks.sandbox.tokens import TokenIssuer

__all__ = ["Config", "Runtime"]


@dataclass(frozen=True)
class Config:
    """Credentials, projects, Jira field ids and Cucumber tag prefixes; secrets stay out of ``repr``.

    Sequences given as lists are kept as tuples, so a Config stays hashable and immutable.
    """

    client_id: str = "sandbox-client"
    client_secret: str = field(default="sandbox-secret", repr=False)
    server_user: str = "admin"
    server_password: str = field(default="admin", repr=False)
    server_token: str = field(default="sandbox-pat", repr=False)
    projects: tuple[str, ...] = ("DEMO", "CALC")
    token_ttl: int = 86400
    #: Server/DC custom field ids of "Test Plan" and "Test Environments" (arrays of strings)
    test_plan_field: str = "customfield_11807"
    environments_field: str = "customfield_11805"
    #: the Test Environments that exist; None accepts any name
    environments: tuple[str, ...] | None = None
    #: Cucumber/Behave scenarios without a Test key tag: refused (the contract, §7.5) or given new Tests
    provision_untagged_scenarios: bool = False
    #: the instance's Cucumber tag prefixes (contract §13.2): ``@TEST_CALC-1``, ``#@PRECOND_CALC-2``,
    #: ``@REQ_CALC-3``; an empty prefix makes bare keys the key tags
    test_prefix: str = "TEST_"
    precondition_prefix: str = "PRECOND_"
    requirement_prefix: str = "REQ_"

    def __post_init__(self) -> None:
        object.__setattr__(self, "projects", tuple(self.projects))
        if self.environments is not None:
            object.__setattr__(self, "environments", tuple(self.environments))

    def with_settings(self, **settings: Any) -> Config:
        """A copy with the given fields changed (``projects``/``environments`` may be any sequence);
        TypeError names a field that does not exist."""
        return replace(self, **settings)


@dataclass
class Runtime:
    """Everything a request handler needs."""

    config: Config
    store: Store
    faults: Faults
    tokens: TokenIssuer
    base_url: str = ""

    def issue_self(self, issue_id: int | str) -> str:
        """The Jira REST link of an issue, as Xray puts it in ``self``."""
        return f"{self.base_url}/rest/api/2/issue/{issue_id}"
