"""The benchmark's scripts start and parse their options (the benchmark itself is `make bench`,
never part of the test suite)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


@pytest.mark.parametrize(
    "script", ["bench.py", "loadgen.py", "relay.py", "delayline.py", "tls_sink.py"]
)
def test_script_help(script: str) -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH / script), "--help"], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    assert "usage" in done.stdout


def test_dry_run_prints_the_plan() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH / "bench.py"), "--quick", "--dry-run"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout)
    assert plan["concurrencies"] == [1, 32, 128]
    assert plan["seconds"] < 5
    assert plan["workers"] == [0]  # the service's own default unless asked


def test_dry_run_takes_worker_counts() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH / "bench.py"), "--dry-run", "--workers", "2", "4"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["workers"] == [2, 4]


@pytest.mark.parametrize(
    ("options", "rtts"),
    [([], [0, 20, 50]), (["--quick"], [0, 50]), (["--rtt", "100"], [100]), (["--loopback"], [])],
)
def test_dry_run_names_the_round_trip_times(options: list[str], rtts: list[float]) -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH / "bench.py"), *options, "--dry-run"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["rtt"] == rtts
