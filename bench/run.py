"""Benchmarks for xray-tasks (not part of the test-suite): ``python bench/run.py [--sizes 10,100,200] [--runs 3]``.

1. Upload: JUnit reports of the given sizes (MB, streamed to ``bench/out/``) imported with
   ``xray-tasks import-results --report FILE --reruns all`` (the upload path alone) and with the equivalent
   ``curl -T FILE`` to the same sandbox endpoint (the sandbox runs as a subprocess with
   ``accept_without_parsing``), alternating, ``--runs`` times; and by default, where the report is first
   read once to look for reruns (``rerunprobe``). Prints medians, the ratio, the marginal cost (largest
   minus smallest size) and each side's peak RSS.
2. The 500-file drill: 500 JUnit files × 10 test cases from one glob into one Test Execution, the sandbox
   adding 100 ms to every request: wall time, peak RSS, import requests and Test Executions recorded.
3. Enrichment: a 200 MB JUnit report with a map file and 100 evidence files, rewritten while streaming and
   imported (peak RSS goal < 48 MiB), beside the same import with ``--reruns all`` (no rewrite).
4. Sharded CI: ``create-execution``, then 8 shards (``import-results --test-exec KEY --shard I/8``, 500 JUnit
   files × 10 test cases each, all eight processes at once, sharing one token cache) and ``finalize``, which
   reads the 40 000 runs back; the sandbox adds 100 ms to every request. Wall time of each phase, import
   requests, authentications, read-back requests, and that every run is there once.
5. Start-up, beside the floor of its own dependencies (``python -c "import httpx, invoke.program"``),
   the three interleaved, median of 15: ``xray-tasks --help`` (goal ≤ 1.1× the floor) and a one-file
   import with a cached token into the sandbox (goal ≤ 1.3× the floor).

``--quick`` shrinks everything (sizes 1,5,10 MB, 1 run, 50-file drill and shards, 3 start-up runs) for a smoke
test.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
CLIENT_ID, CLIENT_SECRET, PROJECT = "sandbox-client", "sandbox-secret", "DEMO"
TIME_BIN = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None
MiB = 1024 * 1024
try:
    from xray_tasks.reports import VALIDATE_LIMIT
except ImportError:  # run from a checkout without the package on the path
    sys.path.insert(0, str(ROOT))
    from xray_tasks.reports import VALIDATE_LIMIT


# -- reports ------------------------------------------------------------------------------------------


def write_junit(path: Path, size_mb: float, cases_per_suite: int = 200) -> Path:
    """A JUnit report of about ``size_mb`` MiB, written suite by suite (never held in memory)."""
    target = int(size_mb * MiB)
    if path.exists() and abs(path.stat().st_size - target) < MiB:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        fh.write('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites>\n')
        suite = 0
        while fh.tell() < target:
            suite += 1
            lines = [f'  <testsuite name="bench.Suite{suite}" tests="{cases_per_suite}" failures="1" errors="0" '
                     f'skipped="0" time="1.0">\n']
            for case in range(cases_per_suite):
                lines.append(f'    <testcase classname="bench.Suite{suite}" name="test_{case}" time="0.005">')
                if case == 0:
                    lines.append('<failure message="expected 1, got 2">AssertionError: expected 1, got 2\n'
                                 '  at bench/test_suite.py:42</failure>')
                lines.append("<system-out>" + "output line of a test that logs a bit. " * 4 + "</system-out>"
                             "</testcase>\n")
            lines.append("  </testsuite>\n")
            fh.write("".join(lines))
        fh.write("</testsuites>\n")
    tmp.replace(path)
    return path


def write_small_junit(path: Path, cases: int, name: str) -> None:
    body = "".join(f'    <testcase classname="drill.{name}" name="test_{i}" time="0.01"/>\n' for i in range(cases))
    path.write_text(f'<?xml version="1.0" encoding="UTF-8"?>\n<testsuite name="drill.{name}" tests="{cases}" '
                    f'failures="0" errors="0" skipped="0">\n{body}</testsuite>\n', encoding="utf-8")


# -- the sandbox --------------------------------------------------------------------------------------


class SandboxProcess:
    """``python -m xray_tasks.sandbox --port 0`` in a subprocess, with the given fault switches."""

    def __init__(self, faults: dict[str, object]) -> None:
        self.faults = faults
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""

    def __enter__(self) -> SandboxProcess:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "xray_tasks.sandbox", "--port", "0", "--quiet", "--faults", json.dumps(self.faults)],
            stdout=subprocess.PIPE, text=True, cwd=ROOT)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        if not line.startswith("XRAY_SANDBOX_URL="):
            self.proc.kill()
            raise SystemExit(f"the sandbox did not start: {line!r}")
        self.url = line.split("=", 1)[1]
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def get(self, path: str) -> object:
        with urllib.request.urlopen(self.url + path, timeout=30) as resp:
            return json.load(resp)

    def post(self, path: str, data: object) -> object:
        req = urllib.request.Request(self.url + path, data=json.dumps(data).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.load(resp)

    def token(self) -> str:
        value = self.post("/api/v2/authenticate", {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET})
        assert isinstance(value, str)
        return value


# -- measuring ----------------------------------------------------------------------------------------


@dataclass
class Run:
    seconds: float
    rss_kib: int


def measure(cmd: Sequence[str], env: dict[str, str]) -> Run:
    """Wall time and peak RSS (KiB) of one command: ``/usr/bin/time -f %M`` when present, else the child's
    own rusage from ``os.wait4`` (``getrusage(RUSAGE_CHILDREN)`` is only a running maximum over children).
    The fallback counts the pages the child shared with this Python process before ``exec``, so it
    overstates small programs such as curl (~27 MiB instead of ~11)."""
    with tempfile.NamedTemporaryFile("r", suffix=".rss", dir=OUT) as rss, \
            tempfile.TemporaryFile("w+") as out:
        full = [TIME_BIN, "-f", "%M", "-o", rss.name, *cmd] if TIME_BIN else list(cmd)
        started = time.perf_counter()
        proc = subprocess.Popen(full, env=env, stdout=out, stderr=subprocess.STDOUT, text=True)
        if hasattr(os, "wait4"):
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            child_kib = usage.ru_maxrss
        else:
            proc.wait()
            child_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        seconds = time.perf_counter() - started
        if proc.returncode != 0:
            out.seek(0)
            raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{out.read()}")
        rss_kib = int(rss.read().strip().splitlines()[-1]) if TIME_BIN else child_kib
    return Run(seconds, rss_kib)


def xray_tasks_cmd() -> list[str]:
    exe = shutil.which("xray-tasks")
    return [exe] if exe else [sys.executable, "-m", "xray_tasks"]


def import_env(url: str, cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("XRAY_")}
    env.update(XRAY_BASE_URL=url, XRAY_CLIENT_ID=CLIENT_ID, XRAY_CLIENT_SECRET=CLIENT_SECRET,
               XRAY_PROJECT_KEY=PROJECT, XRAY_MAX_REQUEST_MB="1024", XRAY_TOKEN_CACHE=str(cache),
               XRAY_STATE_FILE=str(OUT / "no-run.json"), XRAY_ENV_FILE=os.devnull)
    return env


def fmt_mib(kib: float) -> str:
    return f"{kib / 1024:.1f} MiB"


# -- the benchmarks -----------------------------------------------------------------------------------


def bench_upload(sizes: list[float], runs: int) -> list[dict[str, float]]:
    reports = {size: write_junit(OUT / f"junit-{size:g}mb.xml", size) for size in sizes}
    rows = []
    with SandboxProcess({"accept_without_parsing": True}) as sb:
        cache = OUT / "tokens.json"
        cache.unlink(missing_ok=True)
        env = import_env(sb.url, cache)
        subprocess.run([*xray_tasks_cmd(), "authenticate"], env=env, check=True, capture_output=True)  # warm cache
        token = sb.token()
        url = f"{sb.url}/api/v2/import/execution/junit?projectKey={PROJECT}"
        for size, path in reports.items():
            # the upload path alone (--reruns all), and as run by default: first a look for reruns
            ours = [[*xray_tasks_cmd(), "import-results", "--report", str(path), "--quiet", "--reruns", "all"], env]
            probed = [[*xray_tasks_cmd(), "import-results", "--report", str(path), "--quiet"], env]
            curl = [["curl", "-sS", "-f", "-o", os.devnull, "-T", str(path), "-X", "POST",
                     "-H", "Content-Type: application/xml", "-H", f"Authorization: Bearer {token}", url], env]
            a: list[Run] = []
            b: list[Run] = []
            c: list[Run] = []
            for i in range(runs):  # alternate, starting with the other side every second run
                trio = [(ours, a), (curl, b), (probed, c)] if i % 2 == 0 else [(curl, b), (probed, c), (ours, a)]
                for (cmd, cmd_env), into in trio:
                    into.append(measure(cmd, cmd_env))  # type: ignore[arg-type]
            row = {"size": size, "bytes": path.stat().st_size,
                   "ours": statistics.median(r.seconds for r in a), "curl": statistics.median(r.seconds for r in b),
                   "probed": statistics.median(r.seconds for r in c),
                   "ours_rss": max(r.rss_kib for r in a + c), "curl_rss": max(r.rss_kib for r in b)}
            rows.append(row)
            print(f"{size:>6g} MB  xray-tasks {row['ours']:6.3f}s  curl {row['curl']:6.3f}s  "
                  f"ratio {row['ours'] / row['curl']:5.2f}x  peak RSS {fmt_mib(row['ours_rss'])} vs "
                  f"{fmt_mib(row['curl_rss'])}; by default (looking for reruns first) {row['probed']:6.3f}s",
                  flush=True)
        log = sb.get("/sandbox/requests")
        executions = sb.get("/sandbox/executions")
        assert isinstance(log, list) and isinstance(executions, list)
        chunked = sum(1 for r in log if r.get("chunked"))
        print(f"(sandbox saw {len(log)} requests, {chunked} chunked — uploads carry a Content-Length)")
        received = [e.get("summary", "") for e in executions]
        for path in reports.values():  # every upload, ours and curl's, arrived whole
            whole = sum(1 for summary in received if f"({path.stat().st_size} bytes)" in summary)
            if whole != 3 * runs:
                raise SystemExit(f"the sandbox received {path.name} whole {whole} times, not {3 * runs}")
        print(f"(each of the {len(received)} uploads reached the sandbox whole: byte counts match the files)")
    pairs = [(rows[0], rows[-1])] + ([(rows[-2], rows[-1])] if len(rows) > 2 else [])
    for lo, hi in pairs if len(rows) > 1 else []:
        m_ours, m_curl = hi["ours"] - lo["ours"], hi["curl"] - lo["curl"]
        m_probed = hi["probed"] - lo["probed"]
        print(f"marginal {lo['size']:g}→{hi['size']:g} MB: xray-tasks {m_ours:.3f}s, curl {m_curl:.3f}s, "
              f"ratio {m_ours / m_curl if m_curl > 0 else float('nan'):.2f}x (goal ≤ 1.3x, with --reruns all); "
              f"by default {m_probed:.3f}s ({(m_probed - m_ours) / (hi['size'] - lo['size']) * 1000:.0f} ms/MB "
              "looking for reruns)")
    if len(rows) > 1:
        print(f"(reports up to {VALIDATE_LIMIT / MiB:g} MiB are checked whole by expat before sending — "
              "reports.VALIDATE_LIMIT — so the smaller sizes include that check)")
        print(f"peak RSS xray-tasks {fmt_mib(rows[0]['ours_rss'])} → {fmt_mib(rows[-1]['ours_rss'])} "
              "(goal ≤ 48 MiB, flat)")
    return rows


def bench_drill(files: int, cases: int, latency_ms: int) -> dict[str, float]:
    folder = OUT / f"drill-{files}"
    if not folder.is_dir() or len(list(folder.glob("*.xml"))) != files:
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        for i in range(files):
            write_small_junit(folder / f"TEST-drill.Suite{i:04d}.xml", cases, f"Suite{i:04d}")
    with SandboxProcess({"latency_ms": latency_ms}) as sb:
        cache = OUT / "tokens-drill.json"
        cache.unlink(missing_ok=True)
        env = import_env(sb.url, cache)
        env["XRAY_MAX_REQUEST_MB"] = "100"
        subprocess.run([*xray_tasks_cmd(), "authenticate"], env=env, check=True, capture_output=True)
        run = measure([*xray_tasks_cmd(), "import-results", "--report", str(folder / "*.xml"), "--quiet"], env)
        log = sb.get("/sandbox/requests")
        executions = sb.get("/sandbox/executions")
        assert isinstance(log, list) and isinstance(executions, list)
        imports = sum(1 for r in log if "/import/" in r.get("path", ""))
        runs_total = sum(int(e.get("total", 0)) for e in executions)
    row = {"files": files, "seconds": run.seconds, "rss": run.rss_kib, "requests": imports,
           "executions": len(executions), "runs": runs_total}
    print(f"drill: {files} files × {cases} cases, +{latency_ms} ms/request: {run.seconds:.2f}s, peak RSS "
          f"{fmt_mib(run.rss_kib)}, {imports} import request(s), {len(executions)} Test Execution(s) "
          f"holding {runs_total} runs", flush=True)
    return row


def bench_enrich(size_mb: float, files: int, runs: int) -> None:
    """A JUnit report of ``size_mb`` with a map naming tests (a glob over one suite in ten, plus one key) and
    ``files`` evidence files (20 KiB each) named after failing tests, imported into the sandbox (which
    accepts without parsing: the figures are the client's); checks that the body grew by the evidence's
    base64 and reports wall time and peak RSS, beside the same import without a rewrite."""
    report = write_junit(OUT / f"junit-{size_mb:g}mb.xml", size_mb)
    evidence = OUT / f"evidence-{files}"
    if not evidence.is_dir() or len(list(evidence.iterdir())) != files:
        shutil.rmtree(evidence, ignore_errors=True)
        evidence.mkdir(parents=True)
        for n in range(1, files + 1):  # test_0 of bench.Suite<n> fails in every suite
            (evidence / f"bench.Suite{n}.test_0.png").write_bytes(os.urandom(20 * 1024))
    test_map = OUT / "bench-map.yaml"
    test_map.write_text("tests:\n  - match: 'bench.Suite1?.*'\n    requirements: [DEMO-1]\n    labels: [bench]\n"
                        "  - match: 'bench.Suite2.test_1'\n    key: DEMO-2\n")
    rows = []
    with SandboxProcess({"accept_without_parsing": True}) as sb:
        cache = OUT / "tokens-enrich.json"
        cache.unlink(missing_ok=True)
        env = import_env(sb.url, cache)
        subprocess.run([*xray_tasks_cmd(), "authenticate"], env=env, check=True, capture_output=True)
        cmd = [*xray_tasks_cmd(), "import-results", "--report", str(report), "--map", str(test_map), "--evidence",
               str(evidence), "--quiet"]
        plain = measure([*xray_tasks_cmd(), "import-results", "--report", str(report), "--quiet", "--reruns",
                         "all"], env)
        for _ in range(runs):
            rows.append(measure(cmd, env))
        log = sb.get("/sandbox/requests")
        assert isinstance(log, list)
        sizes = [int(r.get("body_size") or 0) for r in log if "/import/" in r.get("path", "")]
    row = {"size": size_mb, "files": files, "seconds": statistics.median(r.seconds for r in rows),
           "rss": max(r.rss_kib for r in rows), "plain_seconds": plain.seconds, "plain_rss": plain.rss_kib,
           "body": max(sizes) if sizes else 0}
    grew = row["body"] - report.stat().st_size
    print(f"enrich: {size_mb:g} MB JUnit + map + {files} evidence files: {row['seconds']:.2f}s, peak RSS "
          f"{fmt_mib(row['rss'])} (goal < 48 MiB); the same report with --reruns all (no rewrite) "
          f"{plain.seconds:.2f}s, {fmt_mib(plain.rss_kib)}; the body grew by {grew / MiB:.2f} MiB", flush=True)
    if grew < files * (20 * 1024 * 4 // 3):
        raise SystemExit(f"the body grew by {grew} bytes: the {files} evidence files did not all go in")
    if row["rss"] >= 48 * 1024:
        raise SystemExit(f"peak RSS {fmt_mib(row['rss'])} is over 48 MiB")


def bench_shards(shards: int, files: int, cases: int, latency_ms: int) -> dict[str, float]:
    """One sharded pipeline: create the execution, import ``shards`` shards at once, finalize."""
    folder = OUT / f"shards-{shards}x{files}"
    if not folder.is_dir() or len(list(folder.glob("*/*.xml"))) != shards * files:
        shutil.rmtree(folder, ignore_errors=True)
        for s in range(1, shards + 1):
            (folder / f"shard-{s}").mkdir(parents=True)
            for i in range(files):
                write_small_junit(folder / f"shard-{s}" / f"TEST-s{s}.Suite{i:04d}.xml", cases, f"S{s}Suite{i:04d}")
    records = OUT / "shard-records"
    shutil.rmtree(records, ignore_errors=True)
    with SandboxProcess({"latency_ms": latency_ms}) as sb:
        cache = OUT / "tokens-shards.json"
        cache.unlink(missing_ok=True)
        env = import_env(sb.url, cache)
        env["XRAY_MAX_REQUEST_MB"] = "100"
        started = time.perf_counter()
        made = subprocess.run([*xray_tasks_cmd(), "create-execution", "--summary", "bench shards"], env=env,
                              capture_output=True, text=True, check=True)
        key = made.stdout.strip()
        created = time.perf_counter()
        procs = [subprocess.Popen([*xray_tasks_cmd(), "import-results", "--test-exec", key, "--shard", f"{s}/{shards}",
                                   "--report", str(folder / f"shard-{s}" / "*.xml"), "--shard-dir", str(records),
                                   "--quiet"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                 for s in range(1, shards + 1)]
        failed = [p.communicate()[1] for p in procs if p.wait() != 0]
        if failed:
            raise SystemExit(f"a shard failed: {failed[0]}")
        imported = time.perf_counter()
        subprocess.run([*xray_tasks_cmd(), "finalize", "--test-exec", key, "--expect-shards", str(shards),
                        "--shard-dir", str(records), "--quiet"], env=env, check=True, capture_output=True)
        finished = time.perf_counter()
        log = sb.get("/sandbox/requests")
        execution = sb.get(f"/sandbox/executions/{key}")
        assert isinstance(log, list) and isinstance(execution, dict)
    imports = sum(1 for r in log if "/import/" in r.get("path", ""))
    auths = sum(1 for r in log if r.get("path", "").endswith("/authenticate"))
    reads = sum(1 for r in log if r.get("path", "").endswith("/graphql")) - 1  # the create mutation
    runs = int(execution.get("total", 0))
    if runs != shards * files * cases:
        raise SystemExit(f"the execution holds {runs} runs, not {shards * files * cases}")
    row = {"shards": shards, "files": files, "create": created - started, "import": imported - created,
           "finalize": finished - imported, "total": finished - started, "imports": imports, "auths": auths,
           "reads": reads, "runs": runs}
    print(f"shards: {shards} × {files} files × {cases} cases, +{latency_ms} ms/request: create {row['create']:.2f}s, "
          f"{shards} shards at once {row['import']:.2f}s, finalize {row['finalize']:.2f}s (total {row['total']:.2f}s); "
          f"{imports} import request(s), {auths} authentication(s), {reads} read-back request(s), {runs} runs, "
          "each once", flush=True)
    return row


def bench_startup(runs: int) -> dict[str, float]:
    """Start-up cost against the floor of what xray-tasks needs anyway (httpx and Invoke's Program)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("XRAY_")}
    report = OUT / "startup.xml"
    write_small_junit(report, 5, "startup")
    cache = OUT / "startup-tokens.json"
    cache.unlink(missing_ok=True)
    with SandboxProcess({"accept_without_parsing": True}) as sb:  # the figures are the client's cost
        ienv = import_env(sb.url, cache)
        commands = {"floor": ([sys.executable, "-c", "import httpx, invoke.program"], env),
                    "--help": ([*xray_tasks_cmd(), "--help"], env),
                    "import": ([*xray_tasks_cmd(), "import-results", "--report", str(report), "--quiet"], ienv)}
        measure(*commands["import"])  # authenticates once: every timed import uses the cached token
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(runs):  # interleaved, so a busy moment hits all three alike
            for name, (cmd, cmd_env) in commands.items():
                times[name].append(measure(cmd, cmd_env).seconds)
    medians = {name: statistics.median(values) for name, values in times.items()}
    floor = medians["floor"]
    print(f"start-up, median of {runs}: floor (import httpx, invoke.program) {floor:.3f}s; "
          f"xray-tasks --help {medians['--help']:.3f}s = {medians['--help'] / floor:.2f}x (goal <= 1.1x); "
          f"one-file import with a cached token {medians['import']:.3f}s = {medians['import'] / floor:.2f}x "
          "(goal <= 1.3x)", flush=True)
    return medians


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--sizes", default=None, help="report sizes in MB, comma-separated (default 10,100,200)")
    p.add_argument("--runs", type=int, default=None, help="runs per size and side (default 3)")
    p.add_argument("--files", type=int, default=None, help="files in the drill (default 500)")
    p.add_argument("--quick", action="store_true", help="small sizes, one run: a smoke test of the script")
    p.add_argument("--skip", default="", help="comma-separated parts to skip: upload, drill, enrich, shards, startup")
    args = p.parse_args(argv)
    sizes = [float(s) for s in (args.sizes or ("1,5,10" if args.quick else "10,100,200")).split(",")]
    runs = args.runs or (1 if args.quick else 3)
    files = args.files or (50 if args.quick else 500)
    skip = set(filter(None, args.skip.split(",")))
    OUT.mkdir(parents=True, exist_ok=True)
    print(f"xray-tasks benchmarks, {time.strftime('%Y-%m-%d')}, Python {sys.version.split()[0]}, "
          f"{os.cpu_count()} CPUs; peak RSS from {'/usr/bin/time -f %M' if TIME_BIN else 'getrusage'}", flush=True)
    if "upload" not in skip:
        bench_upload(sizes, runs)
    if "drill" not in skip:
        bench_drill(files, 10, 100)
    if "enrich" not in skip:
        bench_enrich(10 if args.quick else 200, 10 if args.quick else 100, 1 if args.quick else runs)
    if "shards" not in skip:
        bench_shards(8, 50 if args.quick else 500, 10, 100)
    if "startup" not in skip:
        bench_startup(3 if args.quick else 15)
    return 0


if __name__ == "__main__":
    sys.exit(main())
