"""The ``xray-tasks`` console command: an Invoke ``Program`` over the package's task collection."""

from __future__ import annotations

import os
import sys

from invoke.program import Program

from xray_tasks.tasks import ns

__all__ = ["main", "program"]


class _Program(Program):
    """Looks the version up only when ``--version`` prints it (importlib.metadata is slow to import)."""

    @property
    def version(self) -> str:
        from xray_tasks import __version__

        return __version__

    @version.setter
    def version(self, value: str) -> None:
        pass  # Program.__init__ assigns it; the property above is the source

    def parse_collection(self) -> None:
        """``invoke`` reads the project's ``invoke.yaml`` beside the tasks.py it loads; this command has no
        tasks.py, so the project is the working directory: ``./invoke.yaml`` (its ``xray:`` section) counts
        here exactly as it does for ``invoke`` in the same folder."""
        super().parse_collection()
        self.config.set_project_location(os.getcwd())
        self.config.load_project()


program = _Program(namespace=ns, name="xray-tasks", binary="xray-tasks", binary_names=["xray-tasks"])


def main() -> None:
    try:
        program.run()
    except BrokenPipeError:  # e.g. `xray-tasks --help | head`: the reader is gone, so is our output
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
