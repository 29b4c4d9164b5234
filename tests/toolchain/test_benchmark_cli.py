"""`tito benchmark baseline|run|report` on a fake repository whose modules 19 and 20 are small test
doubles with the interface of tinytorch.benchmarking and tinytorch.capstone (no model is trained):
the command's plumbing — gates, files, tables, exit codes, messages — not the measurements."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

FAKE_19 = '''
"""Test double of tinytorch.benchmarking: one task whose quality is the model's number."""
import json
from dataclasses import asdict, dataclass, field

class Task:
    target = 0.99
    def build_reference(self):
        return {"quality": 0.5, "size": 400}
    def quality(self, model):
        return model["quality"]

TASKS = {"toy": Task(), "other": Task()}

def capture_environment():
    return {"cpu": "fake", "cores": 1, "numpy": "0", "load_average": None,
            "timestamp": "2026-01-01T00:00:00Z"}

@dataclass
class TaskResult:
    task: str
    quality: float
    reference_quality: float
    target: float
    valid: bool
    reason: str | None
    latency_p50: float
    latency_p90: float
    throughput: float
    size_bytes: int
    environment: dict = field(default_factory=dict)
    def to_dict(self):
        return asdict(self)
    @classmethod
    def from_dict(cls, d):
        return cls(**d)

def run_task(name, model=None, *, reference_quality=None, warmup=3, repeats=20, kv_cache=False):
    model = model or TASKS[name].build_reference()
    ref = reference_quality if reference_quality is not None else 0.5
    valid = model["quality"] >= 0.99 * ref
    return TaskResult(name, model["quality"], ref, 0.99, valid, None if valid else "below target",
                      1e-3, 2e-3, 1000.0, model["size"], capture_environment())

def run_suite(models=None, tasks=None):
    return [run_task(n, (models or {}).get(n)) for n in (tasks or TASKS)]

def save_results(results, path):
    from pathlib import Path
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    rows = [r.to_dict() for r in results]
    data = {"schema_version": 1, "environment": capture_environment(), "results": rows}
    Path(path).write_text(json.dumps(data))

def load_results(path):
    from pathlib import Path
    if not Path(path).is_file():
        raise FileNotFoundError(path)
    data = json.loads(Path(path).read_text())
    if data.get("schema_version") != 1:
        raise ValueError("not a results file")
    return [TaskResult.from_dict(r) for r in data["results"]]

def format_table(results, baseline=None):
    base = {b.task: b for b in baseline or []}
    rows = []
    for r in results:
        ratio = f" size x{base[r.task].size_bytes / r.size_bytes:.2f}" if r.task in base else ""
        state = "valid" if r.valid else "INVALID"
        rows.append(f"TABLE {r.task} quality={r.quality} bytes={r.size_bytes} {state}{ratio}")
    return "\\n".join(rows)

def plot_results(results, baseline, path):
    from pathlib import Path
    Path(path).write_bytes(b"PNG")
'''

FAKE_20 = '''
"""Test double of tinytorch.capstone: recipes change the fake model's numbers."""
import json
from pathlib import Path

from tinytorch.benchmarking import TASKS, run_task

def recipe_errors(recipe, task_name=None, path="recipe"):
    errors = [f"{path}.{k}: unknown key" for k in recipe if k not in ("quantize", "prune", "kv_cache")]
    if "prune" in recipe and not 0 <= recipe["prune"]["sparsity"] < 1:
        errors.append(f"{path}.prune.sparsity: expected a number in [0, 1)")
    return errors

def reference_model(task_name):
    return TASKS[task_name].build_reference()

def apply_recipe(task_name, model, recipe):
    model = dict(model)
    if "quantize" in recipe:
        model["size"] //= 4
    if "prune" in recipe:
        model["quality"] -= recipe["prune"]["sparsity"] / 10
    return model

class SubmissionError(ValueError):
    pass

def load_submission(path):
    path = Path(path)
    try:
        obj = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise SubmissionError(f"{path} is not valid JSON: {exc.msg}") from None
    if not isinstance(obj, dict) or "task" not in obj:
        raise SubmissionError(f"{path} is not a valid submission: task: missing")
    return obj

class Check:
    def __init__(self, name, passed, claimed, measured):
        self.name, self.passed, self.claimed, self.measured = name, passed, claimed, measured

class Verification:
    def __init__(self, checks, result):
        self.checks, self.result = checks, result
    @property
    def passed(self):
        return all(c.passed for c in self.checks)
    def report(self):
        verdict = "VERIFIED" if self.passed else "REJECTED"
        return "\\n".join(f"CHECK {c.name} {c.passed}" for c in self.checks) + f"\\nRESULT: {verdict}"

def verify_submission(sub):
    result = run_task(sub["task"], apply_recipe(sub["task"], reference_model(sub["task"]), sub["recipe"]))
    return Verification([Check("size_bytes", sub["claims"]["size_bytes"] == result.size_bytes,
                               sub["claims"]["size_bytes"], result.size_bytes)], result)
'''


@pytest.fixture
def bench_repo(fake_repo: Path) -> Path:
    (fake_repo / "tinytorch" / "benchmarking.py").write_text(FAKE_19)
    (fake_repo / "tinytorch" / "capstone.py").write_text(FAKE_20)
    return fake_repo


def _results(repo: Path) -> Path:
    return repo / ".tito" / "benchmarks"


def test_without_module_19_or_20_it_says_which_to_complete(fake_repo, tito):
    result = tito(fake_repo, "benchmark", "baseline")
    assert result.exit_code == 2, result.output
    assert "19 Benchmarking" in result.output and "tito module complete 19" in result.output
    (fake_repo / "tinytorch" / "benchmarking.py").write_text(FAKE_19)
    result = tito(fake_repo, "benchmark", "run", "--quantize")
    assert result.exit_code == 2 and "20 Capstone" in result.output
    assert "tito module complete 20" in result.output
    assert not _results(fake_repo).exists(), "nothing is written when nothing ran"


def test_baseline_saves_the_suite_and_shows_its_table(bench_repo, tito):
    result = tito(bench_repo, "benchmark", "baseline")
    assert result.exit_code == 0, result.output
    assert "TABLE toy quality=0.5 bytes=400 valid" in result.output and "TABLE other" in result.output
    saved = json.loads((_results(bench_repo) / "baseline.json").read_text())
    assert [r["task"] for r in saved["results"]] == ["toy", "other"]
    result = tito(bench_repo, "benchmark", "baseline", "--task", "toy")
    saved = json.loads((_results(bench_repo) / "baseline.json").read_text())
    assert result.exit_code == 0 and [r["task"] for r in saved["results"]] == ["toy"]


def test_run_applies_the_recipe_and_compares_with_the_baseline(bench_repo, tito):
    result = tito(bench_repo, "benchmark", "run", "--task", "toy", "--quantize")
    assert result.exit_code == 0, result.output
    assert "TABLE toy quality=0.5 bytes=100 valid" in result.output and "no baseline yet" in result.output
    assert tito(bench_repo, "benchmark", "baseline").exit_code == 0
    result = tito(bench_repo, "benchmark", "run", "--task", "toy", "--quantize", "--per-tensor",
                  "--prune", "0.05")
    assert result.exit_code == 0, result.output
    assert "size x4.00" in result.output
    runs = sorted(_results(bench_repo).glob("run-*.json"))
    assert len(runs) == 2 and not list(_results(bench_repo).glob(".*tmp")), "two runs, no temporary file left"
    record = json.loads(runs[-1].read_text())
    assert record["recipe"] == {"quantize": {"method": "minmax", "per_channel": False},
                                "prune": {"sparsity": 0.05, "scope": "global"}}
    assert [r["task"] for r in record["results"]] == ["toy"] and record["results"][0]["size_bytes"] == 100


def test_a_result_that_misses_the_quality_target_fails_the_command(bench_repo, tito):
    result = tito(bench_repo, "benchmark", "run", "--task", "toy", "--prune", "0.5")
    assert result.exit_code == 1 and "INVALID" in result.output, result.output
    for bad in ("1", "-0.1"):
        result = tito(bench_repo, "benchmark", "run", "--task", "toy", "--prune", bad)
        assert result.exit_code == 1 and "in [0, 1)" in result.output, result.output
    assert "<=" not in tito(bench_repo, "benchmark", "run", "--help").output  # no range that admits 1


def test_run_verifies_a_submission(bench_repo, tito, tmp_path):
    honest = {"task": "toy", "recipe": {"quantize": {}}, "claims": {"size_bytes": 100}}
    (tmp_path / "honest.json").write_text(json.dumps(honest))
    result = tito(bench_repo, "benchmark", "run", "--submission", str(tmp_path / "honest.json"))
    assert result.exit_code == 0 and "RESULT: VERIFIED" in result.output, result.output
    record = json.loads(sorted(_results(bench_repo).glob("run-*.json"))[-1].read_text())
    assert record["verified"] is True and record["checks"][0]["name"] == "size_bytes"
    (tmp_path / "hopeful.json").write_text(json.dumps(dict(honest, claims={"size_bytes": 50})))
    result = tito(bench_repo, "benchmark", "run", "--submission", str(tmp_path / "hopeful.json"))
    assert result.exit_code == 1 and "REJECTED" in result.output, result.output
    report = tito(bench_repo, "benchmark", "report")
    assert report.exit_code == 0 and "REJECTED" in report.output, report.output


@pytest.mark.parametrize("content,words", [("{", ["not valid json"]), ("[]", ["task: missing"])])
def test_a_bad_submission_file_is_named(bench_repo, tito, tmp_path, content, words):
    (tmp_path / "sub.json").write_text(content)
    result = tito(bench_repo, "benchmark", "run", "--submission", str(tmp_path / "sub.json"))
    assert result.exit_code == 1 and "sub.json" in result.output, result.output
    assert all(w in result.output.lower() for w in words), result.output


def test_submission_and_recipe_together_or_a_missing_file_are_refused(bench_repo, tito, tmp_path):
    result = tito(bench_repo, "benchmark", "run", "--submission", str(tmp_path / "none.json"))
    assert result.exit_code == 1 and "not found" in result.output
    (tmp_path / "s.json").write_text("{}")
    result = tito(bench_repo, "benchmark", "run", "--submission", str(tmp_path / "s.json"), "--quantize")
    assert result.exit_code == 1 and "not both" in result.output


def test_report_shows_the_latest_run_against_the_baseline(bench_repo, tito, tmp_path):
    result = tito(bench_repo, "benchmark", "report")
    assert result.exit_code == 1 and "tito benchmark baseline" in result.output
    assert tito(bench_repo, "benchmark", "baseline").exit_code == 0
    result = tito(bench_repo, "benchmark", "report")
    assert result.exit_code == 0 and "no run yet" in result.output and "TABLE toy" in result.output
    assert tito(bench_repo, "benchmark", "run", "--task", "toy").exit_code == 0
    assert tito(bench_repo, "benchmark", "run", "--task", "other", "--quantize").exit_code == 0
    result = tito(bench_repo, "benchmark", "report")
    assert result.exit_code == 0 and "TABLE other quality=0.5 bytes=100 valid size x4.00" in result.output
    assert "TABLE toy" not in result.output, "only the latest run is shown"
    result = tito(bench_repo, "benchmark", "report", "--json")
    data = json.loads(result.output)
    assert [r["task"] for r in data["latest"]] == ["other"] and len(data["baseline"]) == 2
    result = tito(bench_repo, "benchmark", "report", "--plot", str(tmp_path / "plot.png"))
    assert result.exit_code == 0 and (tmp_path / "plot.png").read_bytes() == b"PNG"


@pytest.mark.parametrize("text", ["", "{\"results\": [", "{\"results\": [{\"task\": 1}]}"])
def test_a_corrupt_baseline_is_named_with_a_way_out(bench_repo, tito, text):
    folder = _results(bench_repo)
    folder.mkdir(parents=True)
    (folder / "baseline.json").write_text(text)
    result = tito(bench_repo, "benchmark", "report")
    assert result.exit_code == 1, result.output
    assert "baseline.json is corrupt" in result.output and "delete it" in result.output
    result = tito(bench_repo, "benchmark", "run", "--task", "toy", "--quantize")  # refused before measuring
    assert result.exit_code == 1 and "baseline.json is corrupt" in result.output, result.output
    assert "building the reference" not in result.output and not list(folder.glob("run-*.json"))


def test_unknown_task_lists_the_tasks(bench_repo, tito):
    result = tito(bench_repo, "benchmark", "baseline", "--task", "cifar")
    assert result.exit_code == 1 and "'cifar'" in result.output and "toy, other" in result.output


GOOD_ROW = {"task": "toy", "quality": 0.5, "reference_quality": 0.5, "target": 0.99, "valid": True,
            "reason": None, "latency_p50": 1e-3, "latency_p90": 2e-3, "throughput": 1000.0, "size_bytes": 400,
            "environment": {}}


@pytest.mark.parametrize("record, words", [
    ({"results": []}, "it holds no results"),
    ({"results": [{**GOOD_ROW, "latency_p50": float("nan")}]}, "results[0].latency_p50 is nan"),
    ({"results": [{**GOOD_ROW, "throughput": float("inf")}]}, "results[0].throughput is inf"),
    ({"results": [GOOD_ROW], "verified": "maybe"}, 'verified is "maybe", not true or false'),
])
def test_a_results_file_with_nothing_nan_or_a_fuzzy_verdict_is_corrupt(bench_repo, tito, record, words):
    folder = _results(bench_repo)
    folder.mkdir(parents=True)
    (folder / "baseline.json").write_text(json.dumps({"schema_version": 1, "results": [GOOD_ROW]}))
    (folder / "run-20260101T000000000000Z.json").write_text(json.dumps({"schema_version": 1, **record}))
    result = tito(bench_repo, "benchmark", "report")
    text = " ".join(result.output.split())
    assert result.exit_code == 1 and f"is corrupt ({words})" in text and "Traceback" not in text, text


@pytest.mark.parametrize("broken", ["folder is a file", "baseline is a folder"])
def test_a_results_folder_that_is_a_file_is_refused_before_measuring(bench_repo, tito, broken):
    folder = _results(bench_repo)
    if broken == "folder is a file":
        folder.parent.mkdir(exist_ok=True)
        folder.write_text("not a folder")
    else:
        (folder / "baseline.json").mkdir(parents=True)
    for args in (("baseline",), ("run", "--task", "toy"), ("report",)):
        result = tito(bench_repo, "benchmark", *args)
        text = " ".join(result.output.split())
        assert result.exit_code == 1 and "Move it away" in text and "TABLE" not in text, (args, text)


def test_a_results_file_that_cannot_be_written_is_one_clear_line(bench_repo):
    """As on a full disk: every file write fails (RLIMIT_FSIZE of 0 bytes, SIGXFSZ ignored: EFBIG)."""
    import resource
    import signal
    import subprocess
    import sys

    def no_room() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))

    env = {**os.environ, "CI": "1", "PYTHONPATH": str(bench_repo), "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.run([sys.executable, "-m", "tito", "benchmark", "baseline"], cwd=bench_repo, env=env,
                          capture_output=True, text=True, timeout=300, preexec_fn=no_room)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stdout + proc.stderr
    line = next(ln for ln in (proc.stdout + proc.stderr).splitlines() if "could not write" in ln)
    assert "baseline.json" in line and "were not saved" in line and len(line) < 300


@pytest.mark.skipif(not Path("/proc/self/cwd").exists(), reason="needs Linux /proc")
def test_kill_9_of_tito_ends_the_measuring_child_before_it_writes(bench_repo):
    import signal
    import subprocess
    import sys
    import time

    from .test_complete_transaction import no_processes_left

    started = bench_repo / "measuring"
    slow = FAKE_19.replace("def run_suite(models=None, tasks=None):\n",
                           "def run_suite(models=None, tasks=None):\n    import time\n"
                           f"    open({str(started)!r}, 'w').close()\n    time.sleep(60)\n")
    (bench_repo / "tinytorch" / "benchmarking.py").write_text(slow)
    env = {**os.environ, "CI": "1", "PYTHONPATH": str(bench_repo)}
    proc = subprocess.Popen([sys.executable, "-m", "tito", "benchmark", "baseline"], cwd=bench_repo, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not started.exists():
        assert proc.poll() is None and time.monotonic() < deadline, "the child never started measuring"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert no_processes_left(bench_repo), "the measuring child outlived tito"
    assert not (_results(bench_repo) / "baseline.json").exists()
