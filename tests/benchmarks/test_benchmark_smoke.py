"""The benchmark script runs end to end and prints its table (timings are never asserted here)."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_benchmark_quick_runs_and_prints_the_table(tmp_path):
    out = tmp_path / "bench.json"
    command = [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick", "--json", str(out)]
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "TinyTorch ms" in proc.stdout
    results = json.loads(out.read_text())["results"]
    assert [r["case"] for r in results] == ["mlp_train", "cnn_train", "conv_fwd", "block_train", "gpt_train"]
    assert all(r["tinytorch_ms"] > 0 for r in results)
    gpt = results[-1]
    assert gpt["tokens_per_step"] == 16 and gpt["tinytorch_tokens_per_s"] > 0
    assert "tokens/s: TinyTorch" in proc.stdout


def test_only_runs_the_cases_named(tmp_path):
    out = tmp_path / "bench.json"
    command = [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick", "--only", "block_train",
               "--json", str(out)]
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert [r["case"] for r in json.loads(out.read_text())["results"]] == ["block_train"]
    bad = subprocess.run(command[:-2] + ["nope"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "unknown case(s) nope" in bad.stderr
