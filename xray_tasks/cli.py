"""The ``xray-tasks`` console command: an Invoke ``Program`` over the package's task collection."""

from __future__ import annotations

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


program = _Program(namespace=ns, name="xray-tasks", binary="xray-tasks", binary_names=["xray-tasks"])


def main() -> None:
    program.run()
