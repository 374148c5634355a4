"""The ``xray-tasks`` console command: an Invoke ``Program`` over the package's task collection."""

from __future__ import annotations

from invoke.program import Program

from xray_tasks import __version__
from xray_tasks.tasks import ns

__all__ = ["main", "program"]

program = Program(namespace=ns, name="xray-tasks", binary="xray-tasks", binary_names=["xray-tasks"],
                  version=__version__)


def main() -> None:
    program.run()
