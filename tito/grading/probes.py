"""Probes: checks on inputs drawn at grading time, whose verdict no student code can forge.

A graded test cell runs in the student's process, so the student's code could make it "pass"
(a hook that skips it, a patched `assert`, a forged results line). A probe closes that gap. It is a
function in `modules/source/NN_slug/probes.py`:

    def matmul(ns, rng):                   # ns: the notebook's namespace; rng: numpy Generator
        Tensor = ns["Tensor"]
        a, b = rng.normal(size=(3, 4)), rng.normal(size=(4, 2))
        return {"product": (Tensor(a) @ Tensor(b)).data}

    PROBES = {"test-matmul": ["matmul"]}   # graded cell -> the probes that must also match

`rng` is seeded with a number tito draws when it grades, so the inputs exist nowhere before the
run. The jailed run of the student's file calls each probe after the cells and records the values
it returns (numbers, arrays, strings); a second jailed run does the same with the reference's code
and the same seed; tito compares the two here, in its own process. A graded cell scores only when
its test cell ran without error *and* every probe it lists matches the reference.

Writing probes: return values that every correct implementation computes identically from the
drawn inputs (set weights rather than rely on an init; turn randomness into something exact, e.g.
where a dropout mask kept a value). Values that do not depend on the inputs (the name of an error
raised) can be forged: give each graded cell at least one probe whose values do.
`TOLERANCE = {"probe": (rtol, atol)}` widens the comparison of one probe (default below).

What the probes see: `ns` holds what the export and solution cells define (and any cell a student
added), not the helpers of demo or test cells: rebuild those inside the probe. An op records its
`_ctx` only when an input requires grad. In training probes prefer SGD to Adam: Adam turns
rounding-level differences of tiny gradients into whole steps, so correct variants would differ.
`tito grade NN --seed N` repeats a run's inputs (its last line names the seed).
"""

from __future__ import annotations

import importlib.util
import math
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import numpy as np

from tito.errors import TitoError
from tito.registry import Module

FILE_NAME = "probes.py"
DEFAULT_TOLERANCE = (1e-4, 1e-6)  # rtol, atol: float32 sums in another order differ far less
_ATTEMPT = "a probe returned something tito cannot read"
NUMBER_KINDS = "biuf"  # NumPy dtype kinds a probe value may have (as tito/grading/child.py sends them)


def probe_file(repo: Path, module: Module) -> Path:
    return Path(repo) / module.source.parent / FILE_NAME


def new_seed() -> int:
    return secrets.randbits(63)


def load(path: Path) -> ModuleType:
    """The instructor's probe file (trusted: it runs here only to read its table)."""
    spec = importlib.util.spec_from_file_location(f"_tito_probes_{abs(hash(str(path)))}", path)
    probes = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(probes)
    except Exception as exc:
        raise TitoError(f"{path} cannot be loaded: {type(exc).__name__}: {exc}.") from exc
    table = getattr(probes, "PROBES", None)
    if not isinstance(table, dict) or not all(isinstance(k, str) and isinstance(v, list)
                                              for k, v in table.items()):
        raise TitoError(f"{path} has no PROBES table mapping each graded cell to a list of probe names.")
    for grade_id, names in table.items():
        for name in names:
            if not callable(getattr(probes, name, None)):
                raise TitoError(f"{path}: PROBES[{grade_id!r}] names {name!r}, which is not a function "
                                "there.")
    return probes


@dataclass
class Plan:
    """The probes of one grading: which to run (in order), with which seed."""

    file: Path
    seed: int
    table: dict[str, list[str]]
    tolerance: dict[str, tuple[float, float]] = field(default_factory=dict)

    @property
    def run(self) -> list[tuple[str, str]]:
        return [(gid, name) for gid, names in self.table.items() for name in names]

    def job(self, file_inside: str) -> dict:
        return {"file": file_inside, "seed": self.seed, "run": [list(pair) for pair in self.run]}


def plan(repo: Path, module: Module, seed: int | None = None) -> Plan | None:
    path = probe_file(repo, module)
    if not path.is_file():
        return None
    probes = load(path)
    tolerance = {k: (float(v[0]), float(v[1])) for k, v in getattr(probes, "TOLERANCE", {}).items()}
    return Plan(path, new_seed() if seed is None else seed, dict(probes.PROBES), tolerance)


# --------------------------------------------------------------------------------------------------
# Reading what a run returned: untrusted data, checked before use
# --------------------------------------------------------------------------------------------------

def _decode(raw: object) -> object:
    if raw is None or isinstance(raw, (bool, int, float, str)):
        return raw
    if not isinstance(raw, dict) or set(raw) != {"dtype", "shape", "data"}:
        raise ValueError(_ATTEMPT)
    dtype = np.dtype(str(raw["dtype"]))
    shape = tuple(int(n) for n in raw["shape"])
    if dtype.kind not in NUMBER_KINDS or any(n < 0 for n in shape) or not isinstance(raw["data"], list):
        raise ValueError(_ATTEMPT)
    data = np.array(raw["data"], dtype=np.float64 if dtype.kind == "f" else None)
    if data.ndim != 1 or data.size != math.prod(shape):
        raise ValueError(_ATTEMPT)
    return data.astype(dtype).reshape(shape)


def values(entry: dict) -> dict[str, object]:
    raw = entry.get("values")
    if not isinstance(raw, dict):
        raise ValueError(_ATTEMPT)
    return {str(k): _decode(v) for k, v in raw.items()}


def _show(value: object) -> str:
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    return repr(value)


def compare(student: dict[str, object], reference: dict[str, object],
            tolerance: tuple[float, float] = DEFAULT_TOLERANCE) -> str | None:
    """None when the student's values match the reference's; else what differs, in one line."""
    for key, want in reference.items():
        if key not in student:
            return f"{key!r} is missing"
        got = student[key]
        if isinstance(want, np.ndarray):
            if not isinstance(got, np.ndarray) or got.shape != want.shape or got.dtype != want.dtype:
                return f"{key!r}: expected {_show(want)}, got {_show(got)}"
            if want.dtype.kind == "f":
                bad = ~np.isclose(got, want, rtol=tolerance[0], atol=tolerance[1], equal_nan=True)
            else:
                bad = got != want
            if bad.any():
                return f"{key!r}: {int(bad.sum())} of {want.size} values differ from the reference"
        elif isinstance(want, float) and isinstance(got, (int, float)) and not isinstance(got, bool):
            if not (math.isclose(got, want, rel_tol=tolerance[0], abs_tol=tolerance[1])
                    or (math.isnan(got) and math.isnan(want))):
                return f"{key!r}: expected about {want:.6g}, got {got:.6g}"
        elif type(got) is not type(want) or got != want:
            return f"{key!r}: expected {_show(want)}, got {_show(got)}"
    extra = sorted(set(student) - set(reference))
    return f"unexpected values {extra}" if extra else None


def verdicts(plan_: Plan, student: list[dict], reference: list[dict],
             stopped: str | None = None) -> dict[str, list[str]]:
    """grade_id -> why its probes failed (an empty list: all matched). `student` and `reference`
    are the probe entries of the two runs (missing entries: the run stopped before them, `stopped`
    says why)."""
    mine = {(e.get("grade_id"), e.get("probe")): e for e in student if isinstance(e, dict)}
    theirs = {(e.get("grade_id"), e.get("probe")): e for e in reference}
    failed: dict[str, list[str]] = {gid: [] for gid in plan_.table}
    for gid, name in plan_.run:
        want = theirs.get((gid, name))
        if want is None or not want.get("ok"):
            why = want.get("error") if want else "it did not run"
            raise TitoError(f"The reference fails probe {name!r} of {plan_.file}: {why}.",
                            "Fix the probe (or the reference) before grading.")
        got = mine.get((gid, name))
        if got is None:
            failed[gid].append(f"probe {name!r} did not run: " + (stopped or "the run stopped before it"))
        elif not got.get("ok"):
            failed[gid].append(f"probe {name!r} on inputs drawn at grading time raised "
                               f"{str(got.get('error', 'an error'))[:200]}")
        else:
            try:
                why = compare(values(got), values(want), plan_.tolerance.get(name, DEFAULT_TOLERANCE))
            except (ValueError, TypeError, OverflowError):
                why = _ATTEMPT
            if why:
                failed[gid].append(f"probe {name!r} on inputs drawn at grading time: {why}")
    return failed
