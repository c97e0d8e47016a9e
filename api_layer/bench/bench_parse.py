"""Parse + validate time and peak memory of the largest accepted Excel share pack.

The workbook holds 5 000 pipeline rows and 5 000 asset rows (5 shares x 1 000 tables, the per-share limit),
which is the most the default upload limits accept (`xlsx_max_rows` = 5 000 data rows per sheet). Run:

    api_layer/.venv/bin/python api_layer/bench/bench_parse.py [--rounds 5]

Target (SHAREPACK upload path, 2-core box): <= 2 s and <= 300 MB.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

from dbrx_api.settings import UploadSettings
from dbrx_api.workflow.models.pack import SharePack
from dbrx_api.workflow.parsers import export_excel
from dbrx_api.workflow.sharepack import _cyclic_gc_paused, load_sharepack, parse_document
from dbrx_api.workflow.validators.pack import validate_document


def largest_pack(shares: int, tables_per_share: int) -> SharePack:
    """A valid pack with `shares * tables_per_share` mapping-form assets, each with its pipeline."""
    share_entries: list[dict[str, Any]] = []
    for s in range(shares):
        assets = []
        pipelines = []
        for t in range(tables_per_share):
            table = f"src_catalog_{s}.curated.table_{s}_{t:04d}"
            assets.append(
                {
                    "name": table,
                    "shared_as": f"shared_{s}.table_{t:04d}",
                    "comment": f"Table {t} of share {s}",
                }
            )
            pipelines.append(
                {
                    "name_prefix": f"pl_{s}_{t:04d}",
                    "source_asset": table,
                    "target_asset": f"table_{s}_{t:04d}",
                    "scd_type": "2",
                    "key_columns": ["id", "updated_at"],
                    "schedule": {"cron": "0 0 2 * * ?", "timezone": "Europe/London"},
                    "notification": ["data-ops@example.com"],
                    "tags": {"domain": "sales", "tier": "gold"},
                }
            )
        share_entries.append(
            {
                "name": f"bench_share_{s}",
                "share_assets": assets,
                "recipients": ["bench_partner"],
                "delta_share": {
                    "ext_catalog_name": "sharing_catalog",
                    "ext_schema_name": f"ext_{s}",
                },
                "pipelines": pipelines,
            }
        )
    return SharePack.model_validate(
        {
            "metadata": {
                "requestor": ["bench@example.com"],
                "business_line": "Benchmarks",
                "delta_share_region": "EMEA",
                "configurator": ["platform-admins"],
                "approver": ["approver@example.com"],
                "executive_team": ["executives"],
                "approver_status": "approved",
                "workspace_url": "https://adb-1234567890123456.7.azuredatabricks.net",
                "servicenow": "RITM0000001",
                "contact_email": ["bench@example.com"],
            },
            "recipient": [
                {
                    "name": "bench_partner",
                    "type": "D2O",
                    "recipient": ["partner@example.com"],
                    "recipient_ips": ["203.0.113.0/24"],
                    "token_expiry": 0,
                    "token_rotation": False,
                    "token_rotation_grace_days": 0,
                }
            ],
            "share": share_entries,
        }
    )


def _reset_peak_rss() -> None:
    """Reset this process's RSS high-water mark (Linux; the mark otherwise survives fork and exec)."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def _peak_rss_kib() -> int:
    """Peak resident set size of this process in KiB (VmHWM, else ru_maxrss)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def measure(data: bytes, rounds: int, expected: SharePack | None) -> None:
    """Time parse + validate of `data` and report this process's memory."""
    limits = UploadSettings()
    _reset_peak_rss()
    baseline_rss_kib = _peak_rss_kib()
    load_sharepack("bench.xlsx", data, limits)  # warm-up (imports, caches)
    walls: list[float] = []
    cpus: list[float] = []
    for _ in range(rounds):
        gc.collect()
        wall_start, cpu_start = time.perf_counter(), time.process_time()
        loaded = load_sharepack("bench.xlsx", data, limits)
        walls.append(time.perf_counter() - wall_start)
        cpus.append(time.process_time() - cpu_start)
        assert expected is None or loaded.model == expected, "the benchmark pack must round-trip"
    with _cyclic_gc_paused():  # the same conditions as inside load_sharepack
        cpu_start = time.process_time()
        _, root, issues = parse_document("bench.xlsx", data, limits)
        cpu_read = time.process_time()
        validate_document(root, issues=issues)
        cpu_validate = time.process_time()
    print(
        f"load average while measuring: {' '.join(f'{x:.2f}' for x in os.getloadavg())} ({os.cpu_count()} CPUs)"
    )
    print(
        f"load_sharepack (parse + validate), wall: median {statistics.median(walls):.3f} s "
        f"(min {min(walls):.3f}, max {max(walls):.3f}) over {rounds} rounds"
    )
    print(
        f"load_sharepack (parse + validate), CPU:  median {statistics.median(cpus):.3f} s "
        f"(min {min(cpus):.3f}); one split: workbook read {cpu_read - cpu_start:.3f} s, "
        f"validation {cpu_validate - cpu_read:.3f} s"
    )
    max_rss_kib = _peak_rss_kib()  # before tracemalloc, whose bookkeeping inflates RSS
    gc.collect()
    tracemalloc.start()
    load_sharepack("bench.xlsx", data, limits)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(
        f"peak Python allocations during one load_sharepack: {peak / 2**20:.1f} MiB (tracemalloc)"
    )
    print(
        f"peak RSS of the measuring process over the timed rounds: {max_rss_kib / 1024:.1f} MiB "
        f"(interpreter and imports before parsing: {baseline_rss_kib / 1024:.1f} MiB)"
    )
    median = statistics.median(walls)
    verdict = "OK" if median <= 2.0 and max_rss_kib <= 300 * 1024 else "ABOVE TARGET"
    print(f"target <= 2 s and <= 300 MB: {verdict}")


def main() -> None:
    """Build the workbook, then measure parse + validate in a fresh process (so RSS is the parser's)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shares", type=int, default=5)
    parser.add_argument("--tables-per-share", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--workbook", type=Path, help="measure this file (used for the child process)"
    )
    args = parser.parse_args()
    if args.workbook is not None:
        measure(args.workbook.read_bytes(), args.rounds, None)
        return
    limits = UploadSettings()
    pack = largest_pack(args.shares, args.tables_per_share)
    data = export_excel(pack)
    rows = args.shares * args.tables_per_share
    print(
        f"machine: {platform.machine()} {platform.python_implementation()} {platform.python_version()}"
    )
    print(f"workbook: {len(data):,} bytes, {rows:,} pipeline rows and {rows:,} asset rows")
    if len(data) > limits.max_bytes:
        print(f"note: above the {limits.max_bytes:,}-byte upload limit")
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "largest.xlsx"
        path.write_bytes(data)
        assert load_sharepack("largest.xlsx", data, limits).model == pack, (
            "the pack must round-trip"
        )
        subprocess.run(
            [sys.executable, __file__, "--workbook", str(path), "--rounds", str(args.rounds)],
            check=True,
            timeout=600,
        )


if __name__ == "__main__":
    main()
