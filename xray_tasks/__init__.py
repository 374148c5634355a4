"""xray-tasks: run your tests and import the results into Xray, as Invoke tasks.

Mount the tasks in your own ``tasks.py``::

    from invoke import Collection
    import xray_tasks

    ns = Collection(xray_tasks.ns)          # or: ns.add_collection(xray_tasks.ns, name="xray")

Importing this package is cheap: the task collection, httpx and Jinja2 load only when used.
"""

from __future__ import annotations

from typing import Any

__all__ = ["__version__", "ns"]


def _version() -> str:
    # importlib.metadata (and the email parser it loads) costs ~30 ms: only on first use of __version__
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("xray-tasks")
    except PackageNotFoundError:  # a checkout that was never installed
        return "0.0.0+checkout"


def __getattr__(name: str) -> Any:
    if name == "__version__":
        value = _version()
        globals()["__version__"] = value
        return value
    if name == "ns":
        from xray_tasks.tasks import ns

        return ns
    raise AttributeError(f"module 'xray_tasks' has no attribute {name!r}")
