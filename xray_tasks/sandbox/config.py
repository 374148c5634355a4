"""What a running sandbox is made of: its settings (:class:`Config`) and its live parts (:class:`Runtime`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from xray_tasks.sandbox.faults import Faults
from xray_tasks.sandbox.store import Store
from xray_tasks.sandbox.tokens import TokenIssuer

__all__ = ["Config", "Runtime"]


@dataclass(frozen=True)
class Config:
    """Credentials, projects and Jira field ids; secrets stay out of ``repr``."""

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
