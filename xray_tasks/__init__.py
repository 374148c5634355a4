"""xray-tasks: run your tests and import the results into Xray, as Invoke tasks.

Mount the tasks in your own ``tasks.py``::

    from invoke import Collection
    import xray_tasks

    ns = Collection(xray_tasks.ns)          # or: ns.add_collection(xray_tasks.ns, name="xray")

Importing this package is cheap: the task collection, httpx and Jinja2 load only when used.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

try:
    __version__ = version("xray-tasks")
except PackageNotFoundError:  # a checkout that was never installed
    __version__ = "0.0.0+checkout"

__all__ = ["__version__", "ns"]


def __getattr__(name: str) -> Any:
    if name == "ns":
        from xray_tasks.tasks import ns

        return ns
    raise AttributeError(f"module 'xray_tasks' has no attribute {name!r}")
