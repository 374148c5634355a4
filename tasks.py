"""This repository's own tasks: the xray-tasks collection at the root, plus the project's dev tasks.

It is also the example of mounting xray-tasks in your own ``tasks.py``. One line does it:

    ns = Collection.from_module(xray_tasks.tasks)        # at the root: invoke import-results
    ns.add_collection(xray_tasks.ns, name="xray")         # or under a name: invoke xray.import-results
"""

from invoke.collection import Collection
from invoke.context import Context
from invoke.tasks import task

import xray_tasks.tasks


@task
def test(c: Context) -> None:
    """Run the test-suite."""
    c.run("pytest -q", pty=False)


@task
def lint(c: Context) -> None:
    """Check the code with ruff."""
    c.run("ruff check .")


@task(help={"quick": "small sizes, one run: a smoke test of the benchmark script"})
def bench(c: Context, quick: bool = False) -> None:
    """Run the benchmarks (not part of the tests)."""
    c.run("python bench/run.py" + (" --quick" if quick else ""))


ns = Collection.from_module(xray_tasks.tasks)
ns.add_task(test)
ns.add_task(lint)
ns.add_task(bench)
