"""Running the course's code in child processes: a module's inline tests, pytest suites, milestone
scripts and mutants, each against the right package (this checkout's or a staged export) and with
time limits; the pipeline of `tito module complete/test` and the checks of `tito system doctor`."""
