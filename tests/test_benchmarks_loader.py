"""Smoke test of benchmarks/loader.py: --quick on 2 tiny videos, no pytorchvideo reference; figures only
checked to be positive (no timing assertions)."""

import json
import os
import subprocess
import sys

from helpers import ROOT


def test_loader_benchmark_quick(tmp_path):
    out = tmp_path / "loader.json"
    cmd = [sys.executable, os.path.join(ROOT, "benchmarks", "loader.py"), "--quick", "--num-videos", "2",
           "--no-reference", "--backends", "pyav", "decord", "--workdir", str(tmp_path / "videos"), "--json", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "reference skipped" in proc.stdout
    table = [ln.split() for ln in proc.stdout.splitlines() if ln.startswith(("k400-gop16 ", "ssv2 "))]
    # data set, pipeline, backend, N, clips/s/worker, clips per CPU s, ratio ("-": no reference), [targets]
    assert {(r[0], r[2], r[3]) for r in table} == {(d, b, n) for d in ("k400-gop16", "ssv2")
                                                   for b in ("pyav", "decord") for n in ("1", "2")}
    assert all(r[1] == "ours" and float(r[4]) > 0 and float(r[5]) > 0 and r[6] == "-" for r in table)
    rows = json.loads(out.read_text())["rows"]
    assert len(rows) == 8 and all(r["clips_per_s"] > 0 and len(r["runs"]) == 1 for r in rows)
