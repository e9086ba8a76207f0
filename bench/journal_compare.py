"""Before and after in one run: the create measurement against the current code and against another git revision.

On a shared machine throughput figures taken at different times cannot be compared: other work takes the cores
away. ``bench/journal.py --compare-rev REV`` exports REV's tree (``git archive``) into a temporary directory and
starts the same server from it (``PYTHONPATH`` puts that tree first, the virtualenv is the same), on the same
database, with the same load generator and the same requests; the two servers take turns, ``--compare-rounds``
times each, so both see the same background load. It reports the median of each side and their ratio.

The revision must run against the current database schema (the server does not migrate).
"""
from __future__ import annotations

import os
import statistics
import subprocess
import tarfile
import tempfile
from pathlib import Path

import journal_work as work
from journal_http import Server

REPO = Path(__file__).resolve().parent.parent


def export_revision(rev: str) -> Path:
    """REV's tree in a temporary directory (kept for the run; the system cleans /tmp)."""
    target = Path(tempfile.mkdtemp(prefix="hotline-bench-rev-"))
    archive = target / "tree.tar"
    subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", "-o", str(archive), rev], check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(target, filter="data")
    archive.unlink()
    return target


def compare_creates(rev: str, kind: str, env: dict, log_path: Path, *, workers: int, threads: int, fixtures,
                    clients: int, seconds: float, rounds: int, seed: int, db: str, log=print) -> dict:
    tree = export_revision(rev)
    path = os.pathsep.join(p for p in (str(tree), os.environ.get("PYTHONPATH", "")) if p)
    sides = {"current": env, rev: {**env, "PYTHONPATH": path}}
    runs: dict[str, list[dict]] = {label: [] for label in sides}
    for round_no in range(rounds):
        for label, side_env in sides.items():
            with Server(kind, side_env, log_path, workers, threads) as server:
                run = work.run_api_creates(server, fixtures, threads=clients, seconds=seconds,
                                           seed=seed + round_no, db=db)
            runs[label].append(run)
            log(f"  {label}: {run['per_s']}/s, server {run['server_cpu_ms_per_create']} ms CPU/create, "
                f"{run['error_count']} errors")
    summary = {label: _median(rs) for label, rs in runs.items()}
    now, before = summary["current"]["per_s"], summary[rev]["per_s"]
    return {"rev": rev, "rounds": rounds, "seconds": seconds, "sides": summary, "runs": runs,
            "ratio": round(now / before, 2) if before else None,
            "errors": [e for rs in runs.values() for r in rs for e in r["errors"]][:20]}


def _median(runs: list[dict]) -> dict:
    keys = ("per_s", "server_cpu_ms_per_create", "postgres_cpu_ms_per_create", "client_cpu_ms_per_create",
            "machine_busy_pct")
    out = {key: round(statistics.median(r[key] for r in runs), 2) for key in keys}
    out["p50_ms"] = round(statistics.median(r["latency"]["p50_ms"] or 0 for r in runs), 2)
    return out


def summary_lines(cmp: dict) -> list[str]:
    lines = [f"\nbefore/after ({cmp['rounds']} alternating rounds of {cmp['seconds']:.0f} s, medians):"]
    for label, s in cmp["sides"].items():
        lines.append(f"  {label:<12} {s['per_s']:>7}/s  CPU ms/create: server {s['server_cpu_ms_per_create']}, "
                     f"PostgreSQL {s['postgres_cpu_ms_per_create']}, client {s['client_cpu_ms_per_create']}; "
                     f"p50 {s['p50_ms']} ms; machine {s['machine_busy_pct']}% busy")
    lines.append(f"  current/{cmp['rev']} = {cmp['ratio']}x")
    return lines
