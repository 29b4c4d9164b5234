"""`tito dev ...`: checks for course developers (not needed by students)."""

from __future__ import annotations

from typing import Annotated

import typer

from tito import console
from tito.cli.base import MaybeModule, new_app, root, written_module
from tito.registry import available
from tito.run import mutation

app = new_app("Checks for course developers: mutation testing of the reference solutions.")


@app.command()
def mutate(
    number: MaybeModule = None,
    all_modules: Annotated[bool, typer.Option("--all", help="Check every written module.")] = False,
    minimum: Annotated[float, typer.Option("--min", help="Fail below this share of mutants caught.")] = 0.9,
    jobs: Annotated[int, typer.Option(help="Mutants tested in parallel.")] = 2,
    package: Annotated[bool, typer.Option(
        "--package", help="Also run tests/NN_slug on each mutant the inline tests catch, and list the "
                          "ones it misses (slower: a pytest run per mutant).")] = False,
) -> None:
    """Mutate a module's reference solution and report how many mutants its graded tests catch."""
    base = root()
    if all_modules == (number is not None):
        raise typer.BadParameter("give a module number or --all (not both)")
    targets = available(base) if all_modules else [written_module(base, number)]
    weak, leaky = [], []
    for found in targets:
        report = mutation.check(base / found.source, base, jobs=jobs, package=found if package else None)
        caught = report.total - len(report.survivors)
        console.say(f"{found.name}: {caught}/{report.total} mutants caught ({report.score:.0%})")
        for m in report.survivors:
            console.say(f"  survived: {found.source.as_posix()}:{m.line}: {console.esc(m.description)}")
        if report.score < minimum:
            weak.append(found.name)
        if report.package_misses is not None:
            console.say(f"  {found.tests.as_posix()} fails on {caught - len(report.package_misses)} of the "
                        f"{caught} caught")
            for m in report.package_misses:
                console.say(f"  caught inline, passes {found.tests.as_posix()}: {found.source.as_posix()}:"
                            f"{m.line}: {console.esc(m.description)}")
            if report.package_misses:
                leaky.append(found.name)
    if weak:
        console.error(f"Below {minimum:.0%}: {', '.join(weak)}: strengthen their graded tests.")
    if leaky:
        console.error(f"The package suites of {', '.join(leaky)} pass bugs their modules' own tests catch: "
                      "strengthen tests/NN_slug.")
    if weak or leaky:
        raise typer.Exit(1)
