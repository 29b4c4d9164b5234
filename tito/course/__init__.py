"""The course's files: module sources in jupytext's percent format, their NBGrader metadata and
solution regions, the package exported from them, hints, locked-cell checksums and the student
edition made from them. No process is started here."""
