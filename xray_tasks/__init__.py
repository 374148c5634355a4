"""xray-tasks: run your tests and import the results into Xray, as Invoke tasks.

Mount the tasks in your own ``tasks.py``::

    from invoke import Collection
    import xray_tasks.tasks

    ns = Collection.from_module(xray_tasks.tasks)       # or: ns.add_collection(xray_tasks.ns, name="xray")

Importing this package is cheap: the task collection, httpx and Jinja2 load only when used.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from invoke.collection import Collection

__all__ = ["__version__", "ns"]

try:
    __version__ = version("xray-tasks")
except PackageNotFoundError:  # a checkout that was never installed
    __version__ = "0.0.0+checkout"


def __getattr__(name: str) -> Any:
    if name == "ns":  # the collection imports Invoke: only for those who ask for it
        from xray_tasks.tasks import ns

        return ns
    raise AttributeError(f"module 'xray_tasks' has no attribute {name!r}")


ns: Collection  # resolved on first use by __getattr__
