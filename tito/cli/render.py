"""Show what the pipeline found: each step, each failure (the failing statement, the whole message
within bounds), and what became of the package file and the progress record."""

from __future__ import annotations

from tito import console
from tito.console import esc
from tito.run.pipeline import Result, Step
from tito.run.runner import Outcome, Report

MAX_LINES, MAX_CHARS = 30, 3000  # of one failure message: enough for a printed array
INDENT = " " * 9


def bounded(text: str, max_lines: int = MAX_LINES, max_chars: int = MAX_CHARS) -> list[str]:
    """The message's lines, cut after `max_lines` lines or `max_chars` characters, saying so."""
    text = text.strip()
    cut = text[:max_chars]
    lines = cut.splitlines()[:max_lines]
    shown = len("\n".join(lines))
    hidden_lines = len(text.splitlines()) - len(lines)
    if hidden_lines > 0 or shown < len(text):
        more = f"{hidden_lines} more line(s)" if hidden_lines > 0 else f"{len(text) - shown} more characters"
        lines.append(f"... ({more} not shown)")
    return lines


def _context(outcome: Outcome) -> list[str]:
    """What the test printed (inline), or where below the test it failed (pytest: the traceback)."""
    lines = outcome.output.strip().splitlines()
    if "::" in outcome.name:  # a pytest traceback: its `E` lines repeat the message
        lines = [line for line in lines if not line.startswith("E ")]
    return lines[-8:]


def failure(outcome: Outcome) -> None:
    where = ", ".join(filter(None, [outcome.where, f"in {outcome.check}" if outcome.check else ""]))
    console.say(f"  [red]FAILED[/] {esc(outcome.name)}{f' ({esc(where)})' if where else ''}")
    if outcome.statement:
        for line in outcome.statement.splitlines():
            console.say(f"{INDENT}> {esc(line)}")
    if outcome.raised_in:
        console.say(f"{INDENT}raised at {esc(outcome.raised_in)}")
    for line in bounded(outcome.message) if outcome.message else []:
        console.say(f"{INDENT}{esc(line)}")
    for line in _context(outcome):
        console.say(f"{INDENT}| {esc(line)}")


def report(rep: Report) -> None:
    for outcome in rep.failed:
        failure(outcome)


def step(found: Step) -> None:
    for warning in found.warnings:
        console.warn(esc(warning))
    if found.report is not None:
        report(found.report)
        if found.report.crash:
            crash = "\n".join(bounded(found.report.crash))
            console.error(f"{esc(found.name)}: {esc(crash)}")
            return
    line = f"{found.name}: {found.summary}"
    if found.ok:
        console.ok(esc(line))
    else:
        console.error(esc(line))
    for detail in found.details:
        console.say(f"  {esc(detail)}")


def as_it_happens(item: Step | str) -> None:
    """A pipeline listener: show each warning and finished step at once, in order."""
    if isinstance(item, str):
        console.warn(esc(item))
    else:
        step(item)


def result(res: Result) -> None:
    """The end of `tito module complete` / `test`: what became of the package and the record (the
    warnings and steps were shown as they happened, by `as_it_happens`)."""
    m = res.module
    if res.interrupted:
        console.error("Interrupted.")
    if res.action == "test":
        return
    if res.recorded:
        console.ok(f"Exported {m.source.as_posix()} -> {m.export_target.as_posix()} (tested)")
        console.ok(f"Module {m.number} {esc(m.title)} completed.")
        for note in res.notes:
            console.say(esc(note))
        return
    console.say(esc(res.package_note))
    if res.exported:
        console.error(f"Completion was not recorded: run `tito module complete {m.number}` again.")
    elif res.interrupted:
        console.say("Nothing recorded.")
    elif res.completed_before:
        console.error(f"Not completed this time; your completion of {res.completed_before[:10]} stays "
                      "recorded. Fix the problems above and run this again.")
    else:
        console.error("Not completed; nothing recorded. Fix the problems above and run this again.")
