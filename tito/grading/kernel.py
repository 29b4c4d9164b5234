"""An IPython extension for TinyTorch's grading kernel (see tito.grading.grader.kernel_spec); stdlib only.

tito copies this file next to the grading package (named `tito.grading.grader.KERNEL_EXTENSION_NAME`),
where the isolated kernel imports it at start (`--IPKernelApp.extensions`). Before every cell it
sets `__name__` back to "__main__", as tito's own runner (tito/grading/child.py) does: graded cells
call their tests under `if __name__ == "__main__":`, so a student's cell that rebinds `__name__`
must not make the next graded cell skip its tests.
"""

from __future__ import annotations


def load_ipython_extension(ip) -> None:  # noqa: ANN001 - IPython's InteractiveShell
    def before_cell(*_info: object) -> None:
        ip.user_ns["__name__"] = "__main__"

    ip.events.register("pre_run_cell", before_cell)
