"""``python -m xray_tasks.sandbox``: run the sandbox as its own process.

The first line on stdout is ``XRAY_SANDBOX_URL=http://127.0.0.1:PORT`` (flushed), so a parent that passed
``--port 0`` can read the port. Ctrl-C or SIGTERM stops it cleanly.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from xray_tasks.sandbox.app import serve
from xray_tasks.sandbox.faults import Faults


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m xray_tasks.sandbox",
                                description="A local stand-in for Xray's import API (Cloud and Server/DC).")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8765, help="port (0 picks a free one; default 8765)")
    p.add_argument("--db", default=":memory:", help="SQLite file (default: in memory)")
    p.add_argument("--project", action="append", dest="projects", metavar="KEY",
                   help="a project to seed (repeatable; default DEMO and CALC)")
    p.add_argument("--client-id", default="sandbox-client")
    p.add_argument("--client-secret", default="sandbox-secret")
    p.add_argument("--user", default="admin", help="Server/DC user")
    p.add_argument("--password", default="admin", help="Server/DC password")
    p.add_argument("--token", default="sandbox-pat", help="Server/DC personal access token")
    p.add_argument("--token-ttl", type=int, default=86400, help="Cloud token lifetime in seconds")
    p.add_argument("--environment", action="append", dest="environments", metavar="NAME",
                   help="a Test Environment that exists (repeatable; default: any name is accepted)")
    p.add_argument("--faults", default=None, metavar="JSON",
                   help='initial fault switches, e.g. \'{"latency_ms": 200}\'')
    p.add_argument("--provision-untagged-scenarios", action="store_true",
                   help="create Tests for Cucumber/Behave scenarios without a Test key tag (default: 400)")
    p.add_argument("--quiet", action="store_true", help="do not print a line per request")
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
    serve(host=args.host, port=args.port, db=args.db, client_id=args.client_id, client_secret=args.client_secret,
          server_user=args.user, server_password=args.password, server_token=args.token,
          projects=tuple(args.projects or ("DEMO", "CALC")), token_ttl=args.token_ttl, faults=faults,
          out=sys.stdout, environments=args.environments,
          provision_untagged_scenarios=args.provision_untagged_scenarios, quiet=args.quiet)
    return 0


if __name__ == "__main__":
    sys.exit(main())
