"""tito: the TinyTorch course command line (students and instructors)."""

__version__ = "0.1.0"
