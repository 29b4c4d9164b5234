"""`tito benchmark baseline|run|report`: module 19's suite and module 20's recipes from the command line.

The measuring happens in a child process that imports this checkout's package (as milestone
scripts do: `python -m tito.run.isolate tito/cli/benchmark.py ARGS`); this process checks the
arguments, the package files and the results folder, and streams the child's output. Results go
to `.tito/benchmarks/`: `baseline.json` (the references) and `run-<UTC time>.json` (one per run),
each written atomically.
"""

from __future__ import annotations

import json
import math
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated

import typer

from tito.cli.base import new_app, root
from tito.errors import TitoError
from tito.registry import get_module
from tito.run import milestones
from tito.state.atomic import write_atomic

app = new_app("Benchmark the package you built: module 19's suite, module 20's optimization recipes.")

FOLDER = Path(".tito") / "benchmarks"
BASELINE = "baseline.json"
RUN_KIND = "tito-benchmark-run"


class BenchmarkLocked(TitoError):
    """The package files the benchmark imports do not exist yet (exit 2: nothing was run)."""

    exit_code = 2


def _require(base: Path, numbers: tuple[str, ...]) -> None:
    missing = [n for n in numbers if not (base / get_module(n).export_target).is_file()]
    if missing:
        names = ", ".join(f"{n} {get_module(n).title}" for n in missing)
        raise BenchmarkLocked(f"`tito benchmark` needs module(s) {names} completed first "
                              f"({', '.join(get_module(n).export_target.as_posix() for n in missing)} "
                              f"does not exist yet).",
                              f"Complete them with `tito module complete NN`, starting with "
                              f"`tito module complete {missing[0]}`.")


def _check_folder(base: Path) -> None:
    """Refuse, before any measuring, a results folder that is a file or a baseline that is a folder."""
    folder = base / FOLDER
    if folder.exists() and not folder.is_dir():
        raise TitoError(f"{FOLDER.as_posix()} is a file, but tito keeps benchmark results in a folder there.",
                        f"Move it away (`mv {FOLDER.as_posix()} {FOLDER.as_posix()}.old`) and run again.")
    if (folder / BASELINE).exists() and not (folder / BASELINE).is_file():
        raise TitoError(f"{(FOLDER / BASELINE).as_posix()} is not a file.",
                        f"Move it away (`mv {(FOLDER / BASELINE).as_posix()} {FOLDER.as_posix()}/old`) and "
                        "run `tito benchmark baseline`.")


def _child(base: Path, args: list[str]) -> int:
    """Run this file as a script in a child process with this checkout's package; stream its output."""
    return milestones.stream(base, Path(__file__).resolve(), args)


def _finish(code: int) -> None:
    if code == 2:
        raise BenchmarkLocked("the benchmark could not import the package (see the message above).",
                              "Run `tito module complete NN` for the module named.")
    if code:
        raise typer.Exit(code)


TaskOption = Annotated[list[str] | None, typer.Option(
    "--task", help="A task of the suite (repeat for several); default: every task.", show_default=False)]


@app.command()
def baseline(task: TaskOption = None) -> None:
    """Measure the suite's reference models and save .tito/benchmarks/baseline.json."""
    base = root()
    _require(base, ("19",))
    _check_folder(base)
    _finish(_child(base, ["baseline", "--out", str(base / FOLDER / BASELINE), *_tasks(task)]))


def _tasks(task: list[str] | None) -> list[str]:
    return [item for name in task or [] for item in ("--task", name)]


@app.command()
def run(
    task: TaskOption = None,
    submission: Annotated[Path | None, typer.Option("--submission", metavar="FILE", dir_okay=False,
                                                    help="Verify a module-20 submission (JSON): rebuild, "
                                                         "re-apply, re-measure.", show_default=False)] = None,
    quantize: Annotated[bool, typer.Option("--quantize", help="int8 quantization (module 15).")] = False,
    method: Annotated[str, typer.Option("--method", help="Calibration: minmax or percentile.")] = "minmax",
    per_tensor: Annotated[bool, typer.Option("--per-tensor", help="One weight scale per tensor "
                                                                  "(default: per channel).")] = False,
    prune: Annotated[float | None, typer.Option("--prune", metavar="SPARSITY",
                                                help="Magnitude pruning to this sparsity, in [0, 1) "
                                                     "(module 16).", show_default=False)] = None,
    scope: Annotated[str, typer.Option("--scope", help="Pruning rank: global or layer.")] = "global",
    kv_cache: Annotated[bool, typer.Option("--kv-cache", help="Generate with the KV cache (module 17; "
                                                              "char-gpt only).")] = False,
) -> None:
    """Measure optimized models (a recipe, or a submission to verify) against the baseline."""
    base = root()
    recipe_given = quantize or prune is not None or kv_cache
    if submission is not None and (recipe_given or task):
        raise TitoError("Give --submission FILE or a recipe (--quantize, --prune, --kv-cache) with --task, "
                        "not both: a submission names its task and recipe.")
    if prune is not None and not 0.0 <= prune < 1.0:
        raise TitoError(f"--prune {prune:g}: the sparsity is the fraction of weights set to zero, in [0, 1).",
                        "Example: --prune 0.8 keeps the largest 20% of the weights.")
    if submission is not None and not submission.is_file():
        raise TitoError(f"submission file not found: {submission}")
    _require(base, ("19", "20"))
    _check_folder(base)
    recipe: dict = {}
    if quantize:
        recipe["quantize"] = {"method": method, "per_channel": not per_tensor}
    if prune is not None:
        recipe["prune"] = {"sparsity": prune, "scope": scope}
    if kv_cache:
        recipe["kv_cache"] = True
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    args = ["run", "--out", str(base / FOLDER / f"run-{stamp}.json"),
            "--baseline", str(base / FOLDER / BASELINE)]
    if submission is not None:
        args += ["--submission", str(submission.resolve())]
    else:
        args += ["--recipe", json.dumps(recipe), *_tasks(task)]
    _finish(_child(base, args))


@app.command()
def report(
    plot: Annotated[Path | None, typer.Option("--plot", metavar="PNG", dir_okay=False,
                                              help="Also write a plot (needs matplotlib).",
                                              show_default=False)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the latest run and the baseline as "
                                                         "JSON.")] = False,
) -> None:
    """Show the latest run against the baseline."""
    base = root()
    _require(base, ("19",))
    _check_folder(base)
    folder = base / FOLDER
    runs = latest_runs(folder)
    if not runs and not (folder / BASELINE).is_file():
        raise TitoError(f"no benchmark results in {FOLDER.as_posix()}/ yet.",
                        "Run `tito benchmark baseline`, then `tito benchmark run ...`.")
    args = ["report", "--baseline", str(folder / BASELINE)]
    if runs:
        args += ["--latest", str(runs[-1])]
    if plot is not None:
        args += ["--plot", str(plot.resolve())]
    if as_json:
        args.append("--json")
    _finish(_child(base, args))


def latest_runs(folder: Path) -> list[Path]:
    """The run files in `folder`, oldest first (their names hold the UTC time)."""
    return sorted(folder.glob("run-*.json")) if folder.is_dir() else []


# --- the child process: imports the package ------------------------------------------------------

def _fail(message: str, code: int = 1) -> None:
    print(f"error: {message}", file=sys.stderr, flush=True)
    sys.exit(code)


def _import(number: str, names: list[str]) -> list:
    module = get_module(number)
    try:
        package = __import__(f"tinytorch.{module.slug}", fromlist=names)
        return [getattr(package, name) for name in names]
    except Exception as exc:  # any failure is the package file's: name it
        _fail(f"{module.export_target.as_posix()} (module {number} {module.title}) does not import or lacks "
              f"what the benchmark uses: {type(exc).__name__}: {exc}", code=2)


def _not_finite(value, where: str = "") -> str | None:
    """The path of the first NaN or infinite number in a result's dict, or None."""
    if isinstance(value, float) and not math.isfinite(value):
        return f"{where} is {value}"
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        found = _not_finite(item, f"{where}.{key}" if where else str(key))
        if found:
            return found
    return None


def _read_results(path: Path, what: str) -> list:
    """TaskResults of a baseline or run file (module 19's format), or a clear error: a file that does
    not load, holds no result, a NaN or infinite number, or (a run) a `verified` that is not true/false."""
    (load_results,) = _import("19", ["load_results"])
    again = f"delete it and measure again (`tito benchmark {'baseline' if what == 'baseline' else 'run'}`)"
    try:
        results = list(load_results(path))
        problem = "it holds no results" if not results else None
        for i, result in enumerate(results):
            problem = problem or _not_finite(result.to_dict(), f"results[{i}]")
        verified = json.loads(path.read_text(encoding="utf-8")).get("verified", False)
        if not isinstance(verified, bool):
            problem = problem or f"verified is {json.dumps(verified)[:40]}, not true or false"
    except FileNotFoundError:
        _fail(f"{what} not found: {path}")
    except Exception as exc:  # a corrupt, truncated or hand-edited file
        problem = f"{type(exc).__name__}: {str(exc)[:200]}"
    if problem:
        _fail(f"{what} {path} is corrupt ({problem}); {again}")
    return results


def _write(path: Path, save) -> None:
    """Save a results file, or say in one line why it could not be written (full disk, permissions)."""
    try:
        save()
    except OSError as exc:
        _fail(f"could not write {path}: {exc.strerror or exc}; the measurements above were not saved")


def _child_main(argv: list[str]) -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="tito benchmark (child)")
    parser.add_argument("command", choices=["baseline", "run", "report"])
    parser.add_argument("--out", type=Path)
    parser.add_argument("--baseline", type=Path)
    parser.add_argument("--latest", type=Path)
    parser.add_argument("--task", action="append")
    parser.add_argument("--recipe")
    parser.add_argument("--submission", type=Path)
    parser.add_argument("--plot", type=Path)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    tasks_table, format_table = _import("19", ["TASKS", "format_table"])
    for name in args.task or []:
        if name not in tasks_table:
            _fail(f"unknown task {name!r}: the tasks are {', '.join(tasks_table)}")
    if args.command == "baseline":
        _baseline(args)
    elif args.command == "run":
        _run(args, format_table)
    else:
        _report(args, format_table)


def _baseline(args) -> None:
    run_suite, save_results, format_table = _import("19", ["run_suite", "save_results", "format_table"])
    results = run_suite(None, tasks=args.task or None)
    _write(args.out, lambda: save_results(results, args.out))
    print(format_table(results))
    print(f"saved {args.out}")


def _run(args, format_table) -> None:
    tasks_table, run_task, capture_environment = _import("19", ["TASKS", "run_task", "capture_environment"])
    capstone = _import("20", ["apply_recipe", "reference_model", "load_submission", "verify_submission",
                              "recipe_errors"])
    apply_recipe, reference_model, load_submission, verify_submission, recipe_errors = capstone
    record: dict = {"schema_version": 1, "kind": RUN_KIND}  # module 19's results file, with the run's details
    # a corrupt baseline is refused before minutes of measuring, not after
    baseline = _read_results(args.baseline, "baseline") if args.baseline.is_file() else None
    if args.submission is not None:
        try:
            submission = load_submission(args.submission)
        except ValueError as exc:
            _fail(str(exc))
        recipe = json.dumps(submission["recipe"])
        print(f"verifying {args.submission} ({submission['task']}, recipe {recipe}) ...", flush=True)
        verification = verify_submission(submission)
        print(verification.report())
        results = [verification.result]
        checks = [{"name": c.name, "passed": bool(c.passed), "claimed": c.claimed, "measured": c.measured}
                  for c in verification.checks]
        record.update(submission=str(args.submission), recipe=submission["recipe"],
                      verified=verification.passed, checks=checks)
    else:
        recipe = json.loads(args.recipe)
        names = args.task or list(tasks_table)
        if recipe.get("kv_cache") and not args.task:
            names = [n for n in names if n == "char-gpt"] or names
        problems = [p for n in names for p in recipe_errors(recipe, n)]
        if problems:
            _fail("invalid recipe: " + "; ".join(dict.fromkeys(problems)))
        results = []
        for name in names:
            applied = json.dumps(recipe) if recipe else "no recipe"
            print(f"{name}: building the reference, applying {applied} ...", flush=True)
            reference = reference_model(name)
            results.append(run_task(name, apply_recipe(name, reference, recipe),
                                    reference_quality=tasks_table[name].quality(reference),
                                    kv_cache=bool(recipe.get("kv_cache"))))
        record["recipe"] = recipe
    record.update(environment=capture_environment(), results=[r.to_dict() for r in results])
    _write(args.out, lambda: write_atomic(args.out, json.dumps(record, indent=1, default=_jsonable) + "\n"))
    print(format_table(results, baseline))
    if baseline is None:
        print("no baseline yet: `tito benchmark baseline` measures the references to compare against")
    print(f"saved {args.out}")
    problems = [f"{r.task} is INVALID (it missed the quality target)" for r in results if not r.valid]
    if record.get("verified") is False:
        problems.append(f"the submission {args.submission} was REJECTED (see the failed checks above)")
    if problems:
        _fail("; ".join(problems))


def _jsonable(value):
    if hasattr(value, "item"):  # NumPy scalars
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def _report(args, format_table) -> None:
    baseline = _read_results(args.baseline, "baseline") if args.baseline.is_file() else None
    latest = _read_results(args.latest, "run") if args.latest is not None else None
    if args.json:
        print(json.dumps({"baseline": None if baseline is None else [r.to_dict() for r in baseline],
                          "latest": None if latest is None else [r.to_dict() for r in latest],
                          "latest_file": None if args.latest is None else str(args.latest)},
                         indent=1, default=_jsonable))
    else:
        if latest is None:
            print("no run yet: showing the baseline (`tito benchmark run ...` measures an optimized model)")
            print(format_table(baseline))
        else:
            print(f"latest run: {args.latest.name}" + ("" if baseline is not None else " (no baseline yet)"))
            print(format_table(latest, baseline))
            record = json.loads(args.latest.read_text(encoding="utf-8"))
            if "verified" in record:
                verdict = "VERIFIED" if record["verified"] else "REJECTED"
                print(f"submission {record.get('submission')}: {verdict}")
    if args.plot is not None:
        (plot_results,) = _import("19", ["plot_results"])
        try:
            plot_results(latest if latest is not None else baseline, baseline, args.plot)
        except (ImportError, RuntimeError, ValueError) as exc:
            _fail(f"no plot written: {exc}")
        print(f"plot written to {args.plot}")


if __name__ == "__main__":
    _child_main(sys.argv[1:])
