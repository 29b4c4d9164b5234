"""nbgrader's autograde step with tito's grading in place of its kernel.

`tito nbgrader autograde NN` replaces nbgrader's `Execute` preprocessor by `JailedExecute`: rather
than running the submission in a Jupyter kernel with the instructor's rights, it runs the cells in
tito's jail (tito.grading.jail) and checks the probes (tito.grading.probes), then writes each cell's
outputs as a kernel would: its printed text, and an `error` output where the cell raised or where
its probes did not match the reference. nbgrader's `SaveAutoGrades` then scores the cells as
always (an error output: 0 points). So the gradebook, the exchange and the other submissions are
out of the student's reach, and a submission that loops, crashes or dies costs only its own cells:
this preprocessor never raises for anything a student did.

It runs inside the nbgrader process that tito starts, which passes the repository in TITO_REPO and
the probes' seed in TITO_PROBE_SEED (one seed and one reference run per autograde).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Bool, Integer

from tito.errors import TitoError
from tito.grading import grader, probes
from tito.registry import MODULES

REPO_ENV, SEED_ENV, UNSAFE_ENV = "TITO_REPO", "TITO_PROBE_SEED", "TITO_UNSAFE"


def _module(notebook: str):
    for module in MODULES:
        if module.name == notebook:
            return module
    raise TitoError(f"{notebook}.ipynb is not a TinyTorch module notebook (NN_slug).")


def _cells(nb: NotebookNode, name: str) -> list[grader._Cell]:
    cells = []
    for n, cell in enumerate(nb.cells, start=1):
        if cell.cell_type == "code":
            meta = dict(cell.metadata.get("nbgrader", {}) or {})
            cells.append(grader._Cell(grader._without_magics(cell.source), f"{name}.ipynb (cell {n})", None,
                                      meta, n))
    return cells


def _error(ename: str, evalue: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


class JailedExecute(NbGraderPreprocessor):
    """Run the notebook in tito's jail and record each cell's outcome as its outputs."""

    timeout = Integer(0, help="Seconds each cell may run (0: the course's c.Execute.timeout, else "
                             "tito's default).").tag(config=True)
    unsafe = Bool(False, help="Run without the jail (only for trusted code).").tag(config=True)

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        repo = Path(os.environ[REPO_ENV])
        course_timeout = self.config.get("Execute", {}).get("timeout")
        timeout = float(self.timeout or course_timeout or grader.DEFAULT_CELL_TIMEOUT)
        unsafe = self.unsafe or os.environ.get(UNSAFE_ENV) == "1"
        name = resources["nbgrader"]["notebook"]
        module = _module(name)
        seed = int(os.environ.get(SEED_ENV) or probes.new_seed())
        plan = probes.plan(repo, module, seed)
        cells = _cells(nb, name)
        with tempfile.TemporaryDirectory(prefix="tito-autograde-") as tmp:
            dest = grader.grading_package(repo, module.number, Path(tmp) / "grading")
            failed: dict[str, list[str]] = {}
            if plan is not None:  # (the reference's run: once per autograde, the seed is the same for all)
                expected = grader.reference_run(repo, module, dest, plan, timeout, unsafe)
                mine = grader.run_cells(dest, grader.definition_cells(cells), timeout=timeout, plan=plan,
                                        unsafe=unsafe)
                failed = probes.verdicts(plan, mine.probes, expected.probes, mine.ended)
            run = grader.run_cells(dest, cells, timeout=timeout, unsafe=unsafe)
        self._write_outputs(nb, cells, run, failed)
        if run.crash:
            self.log.warning("%s of %s: %s", name, resources["nbgrader"].get("student"), run.crash)
        return nb, resources

    def _write_outputs(self, nb: NotebookNode, cells: list[grader._Cell], run: grader.Run,
                       failed: dict[str, list[str]]) -> None:
        code = [c for c in nb.cells if c.cell_type == "code"]
        for index, (cell, planned) in enumerate(zip(code, cells)):
            result = run.cells.get(index)
            cell.outputs = []
            cell.execution_count = index + 1
            if result is None:
                why = run.ended or "the run stopped"
                cell.outputs.append(_error("NotRun", f"this cell did not run: {why}"))
                continue
            text = str(result.get("output", ""))
            if text:
                cell.outputs.append(NotebookNode(output_type="stream", name="stdout", text=text))
            if not result.get("ok"):
                ename = str(result.get("error_type", "Error"))
                evalue = str(result.get("error", ename)).split(": ", 1)[-1]
                cell.outputs.append(_error(ename, evalue[:500]))
            elif planned.graded and failed.get(planned.meta.get("grade_id")):
                reasons = "; ".join(failed[planned.meta["grade_id"]])
                cell.outputs.append(_error("ProbeMismatch", reasons[:500]))
