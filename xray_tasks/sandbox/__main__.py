"""``python -m xray_tasks.sandbox``: run the sandbox as its own process.

The first line on stdout is ``XRAY_SANDBOX_URL=http://127.0.0.1:PORT`` (flushed), so a parent that passed
``--port 0`` can read the port. Ctrl-C or SIGTERM stops it cleanly. Every default comes from
:class:`~xray_tasks.sandbox.config.Config`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from xray_tasks.sandbox.app import DEFAULT_HOST, DEFAULT_PORT, serve
from xray_tasks.sandbox.config import Config
from xray_tasks.sandbox.faults import Faults


def parser() -> argparse.ArgumentParser:
    d = Config()
    p = argparse.ArgumentParser(prog="python -m xray_tasks.sandbox",
                                description="A local stand-in for Xray's import API (Cloud and Server/DC).")
    p.add_argument("--host", default=DEFAULT_HOST, help="address to listen on (default %(default)s)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help="port (0 picks a free one; default %(default)s)")
    p.add_argument("--db", default=":memory:", help="SQLite file (default: in memory)")
    p.add_argument("--project", action="append", dest="projects", metavar="KEY",
                   help=f"a project to seed (repeatable; default {' and '.join(d.projects)})")
    p.add_argument("--client-id", default=d.client_id, help="Cloud client id (default %(default)s)")
    p.add_argument("--client-secret", default=d.client_secret, help="Cloud client secret (default %(default)s)")
    p.add_argument("--user", dest="server_user", default=d.server_user, help="Server/DC user (default %(default)s)")
    p.add_argument("--password", dest="server_password", default=d.server_password,
                   help="Server/DC password (default %(default)s)")
    p.add_argument("--token", dest="server_token", default=d.server_token,
                   help="Server/DC personal access token (default %(default)s)")
    p.add_argument("--token-ttl", type=int, default=d.token_ttl,
                   help="Cloud token lifetime in seconds (default %(default)s)")
    p.add_argument("--environment", action="append", dest="environments", metavar="NAME",
                   help="a Test Environment that exists (repeatable; default: any name is accepted)")
    p.add_argument("--test-prefix", default=d.test_prefix,
                   help="Cucumber tag prefix of Test keys (default %(default)s; '' for bare keys)")
    p.add_argument("--precondition-prefix", default=d.precondition_prefix,
                   help="Cucumber comment prefix of Precondition keys (default %(default)s)")
    p.add_argument("--requirement-prefix", default=d.requirement_prefix,
                   help="Cucumber tag prefix of requirement keys (default %(default)s)")
    p.add_argument("--faults", default=None, metavar="JSON",
                   help='initial fault switches, e.g. \'{"latency_ms": 200}\'')
    p.add_argument("--provision-untagged-scenarios", action="store_true",
                   help="create Tests for Cucumber/Behave scenarios without a Test key tag (default: 400)")
    p.add_argument("--quiet", action="store_true", help="do not print a line per request")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    faults = Faults()
    if args.faults:
        try:
            changes = json.loads(args.faults)
            if not isinstance(changes, dict):
                raise ValueError("expected a JSON object")
            faults.update(changes)
        except ValueError as exc:
            p.error(f"--faults: {exc}")
    d = Config()
    config = d.with_settings(
        client_id=args.client_id, client_secret=args.client_secret, server_user=args.server_user,
        server_password=args.server_password, server_token=args.server_token,
        projects=args.projects or d.projects, token_ttl=args.token_ttl, environments=args.environments,
        test_prefix=args.test_prefix, precondition_prefix=args.precondition_prefix,
        requirement_prefix=args.requirement_prefix, provision_untagged_scenarios=args.provision_untagged_scenarios)
    serve(host=args.host, port=args.port, db=args.db, faults=faults, out=sys.stdout, quiet=args.quiet, config=config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
