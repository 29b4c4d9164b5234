"""benchmarks/bpe.py runs end to end on a slice and reports its numbers (timings never asserted)."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bpe_benchmark_quick_runs(tmp_path):
    out = tmp_path / "bpe.json"
    command = [sys.executable, str(ROOT / "benchmarks" / "bpe.py"), "--quick", "--json", str(out)]
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "round trip exact" in proc.stdout and "same merges" in proc.stdout, proc.stdout
    result = json.loads(out.read_text())
    assert result["characters"] == 50_000 and result["vocab_size"] == 300 and result["merges"] == 44
    assert 0 < result["tokens"] < result["bytes"]
    assert result["train_s"] > 0 and result["encode_cold_s"] > 0


def test_bpe_benchmark_reads_any_text_file(tmp_path):
    data = tmp_path / "tiny.txt"
    data.write_text("the cat sat on the mat; the hat, the bat. 🙂 " * 20, encoding="utf-8")
    out = tmp_path / "bpe.json"
    command = [sys.executable, str(ROOT / "benchmarks" / "bpe.py"), "--data", str(data), "--vocab", "270",
               "--json", str(out)]
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(out.read_text())
    assert result["characters"] == 44 * 20 and result["bytes"] == 47 * 20 and result["merges"] == 14, result
