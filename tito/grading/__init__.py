"""Grading a student's module file: against the reference of its prerequisites only, by tito's own
runner (`tito grade`) or by the real nbgrader (`tito nbgrader`); and notebooks back into module files."""
