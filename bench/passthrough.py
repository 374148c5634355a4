"""How much running the tests through xray-tasks costs their output (not part of the test-suite).

``python bench/passthrough.py [--sizes 1,200] [--runs 3]``

A test command that writes N MiB of test-runner-like lines quickly (``yes LINE | head -c N``) runs

- ``direct``: through the shell alone, its stdout on our pipe or terminal (the floor);
- ``runner``: through :func:`xray_tasks.runner.run_command` in a small Python process;
- ``run-tests``: through the real ``xray-tasks run-tests --command ...``, end to end;

once with stdout on a pipe and once on a pseudo-terminal (the path that keeps colours). This process reads
and discards the output in both cases. Printed: the median wall time per size, the marginal cost (largest
size minus smallest, which removes Python's start-up), its ratio to the direct run's (goal ≤ 1.2×), and the
peak RSS of the measured process tree (GNU ``/usr/bin/time``'s ``%M``, else ``wait4``: the largest of the
process and the children it waited for; goal < 48 MiB).
"""

from __future__ import annotations

import argparse
import errno
import os
import pty
import shlex
import statistics
import subprocess
import sys
import tempfile
import termios
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MiB = 1024 * 1024
LINE = "tests/test_calculator.py::TestCalculator::test_addition[large-numbers] PASSED                [ 42%]"
#: GNU time reports the peak RSS of the process it runs (and its waited-for children) without ours: a child
#: of this Python process starts out with this process's peak RSS on its books (Linux copies it at exec)
TIME_BIN = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None
RUNNER = "import sys; from xray_tasks.runner import run_command; sys.exit(run_command(sys.argv[1]).exit_code)"
try:
    from xray_tasks.runner import shell
except ImportError:  # run from a checkout without the package on the path
    sys.path.insert(0, str(ROOT))
    from xray_tasks.runner import shell


@dataclass(frozen=True)
class Sample:
    seconds: float
    received: int
    peak_rss_kib: int


def writer(size: int) -> str:
    """A command that writes ``size`` bytes of test-runner-like lines as fast as it can."""
    return f"yes {shlex.quote(LINE)} | head -c {size}"


def measure(argv: Sequence[str], *, tty: bool, env: dict[str, str]) -> Sample:
    """One run of ``argv`` with its stdout on a pipe or a pseudo-terminal that we drain."""
    if tty:
        read_fd, write_fd = pty.openpty()
        attrs = termios.tcgetattr(write_fd)
        attrs[1] &= ~termios.OPOST  # count the bytes as written
        termios.tcsetattr(write_fd, termios.TCSANOW, attrs)
    else:
        read_fd, write_fd = os.pipe()
    rss_file = tempfile.NamedTemporaryFile(prefix="xray-bench-rss-", delete=False)  # noqa: SIM115
    rss_file.close()
    timed = [TIME_BIN, "-f", "%M", "-o", rss_file.name, *argv] if TIME_BIN else list(argv)
    started = time.perf_counter()
    proc = subprocess.Popen(timed, stdout=write_fd, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, env=env)
    os.close(write_fd)
    received = 0
    while True:
        try:
            chunk = os.read(read_fd, MiB)
        except OSError as exc:
            if exc.errno == errno.EIO:  # the last writer closed the pseudo-terminal
                break
            raise
        if not chunk:
            break
        received += len(chunk)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    os.close(read_fd)
    rss = Path(rss_file.name).read_text().strip()
    os.unlink(rss_file.name)
    if proc.returncode != 0:
        raise SystemExit(f"{argv[:4]} exited {proc.returncode}")
    return Sample(seconds, received, int(rss.splitlines()[-1]) if TIME_BIN else usage.ru_maxrss)


def variants(command: str) -> dict[str, list[str]]:
    return {
        "direct": [shell(), "-c", command],
        "runner": [sys.executable, "-c", RUNNER, command],
        "run-tests": [sys.executable, "-m", "xray_tasks", "run-tests", "--command", command],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,200", help="MiB of output, comma-separated (default 1,200)")
    parser.add_argument("--runs", type=int, default=3, help="runs per cell; the median is shown (default 3)")
    args = parser.parse_args()
    sizes = [int(float(s) * MiB) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory(prefix="xray-bench-") as tmp:
        state = Path(tmp) / "run.json"
        env = {k: v for k, v in os.environ.items() if not k.startswith("XRAY_")}
        env |= {"XRAY_STATE_FILE": str(state), "XRAY_ENV_FILE": os.devnull,
                "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))}
        print(f"{'stdout':<7}{'variant':<11}" + "".join(f"{f'{s // MiB} MiB s':>11}" for s in sizes)
              + f"{'marginal s':>12}{'× direct':>10}{'peak RSS MiB':>14}")
        for tty in (False, True):
            marginal_direct = None
            for name in ("direct", "runner", "run-tests"):
                medians, peak = [], 0
                for size in sizes:
                    samples = []
                    for _ in range(args.runs):
                        sample = measure(variants(writer(size))[name], tty=tty, env=env)
                        if sample.received != size:
                            raise SystemExit(f"{name}: received {sample.received} bytes of {size}")
                        samples.append(sample)
                    medians.append(statistics.median(s.seconds for s in samples))
                    peak = max(peak, *(s.peak_rss_kib for s in samples))
                marginal = medians[-1] - medians[0]
                if name == "direct":
                    marginal_direct = marginal
                ratio = marginal / marginal_direct if marginal_direct else float("nan")
                print(f"{'tty' if tty else 'pipe':<7}{name:<11}" + "".join(f"{m:>11.3f}" for m in medians)
                      + f"{marginal:>12.3f}{ratio:>9.2f}×{peak / 1024:>14.1f}", flush=True)


if __name__ == "__main__":
    main()
