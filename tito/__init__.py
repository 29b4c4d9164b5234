"""tito: the TinyTorch course command line (students and instructors).

Rooms, each one concern; a room imports only from the rooms listed above it
(tests/toolchain/test_layout.py checks this):
    registry.py, errors.py, console.py   the one table of modules and milestones, the one error a
                                         user can fix, and all output: used by every room
    state/     what tito keeps between commands: the progress file, backups, atomic writes
    course/    the module files: format, metadata, solutions, stubs, export, hints, locks, release
    run/       child processes: inline tests, pytest, milestones, mutants; the pipeline of
               `tito module complete` and the checks of `tito system doctor`
    grading/   a student's file graded in isolation: tito's own runner and the nbgrader course
    book/      the course as an offline website: pages from the modules, docs, milestones and CLI
    cli/       the commands: arguments in, rendering out
"""

__version__ = "0.1.0"
