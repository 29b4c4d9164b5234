"""Solution stripping: the module file as students receive it, each region replaced by a stub.

    # YOUR CODE HERE
    raise NotImplementedError("Implement Tensor.matmul (module 01): see section '3. The Tensor
                               class' above; `tito hint 01 Tensor.matmul` gives hints")
"""

from __future__ import annotations

import json
import re

from tito.course.solutions import regions

_STUB = re.compile(r'raise NotImplementedError\("Implement (?P<name>.+?) \(module (?P<number>\d+)\): '
                   r"(see section '(?P<section>.*?)' above;)?")


def message(name: str, number: str, section: str | None) -> str:
    """What a stub says: what to implement, where its explanation is, how to get a hint."""
    where = f"see section '{section}' above" if section else "see the explanation above"
    return f"Implement {name} (module {number}): {where}; `tito hint {number} {name}` gives hints"


def strip_solutions(text: str, number: str) -> str:
    """Replace every solution region of module `number`'s file with a stub that raises."""
    lines = text.splitlines()
    out: list[str] = []
    done = 0
    for region in regions(text):
        marker = lines[region.begin - 1]
        pad = marker[:len(marker) - len(marker.lstrip())]
        literal = json.dumps(message(region.name, number, region.section), ensure_ascii=False)
        out += lines[done:region.begin - 1]
        out += [f"{pad}# YOUR CODE HERE", f"{pad}raise NotImplementedError({literal})"]
        done = region.end
    return "\n".join(out + lines[done:]) + "\n"


def stub_sections(text: str) -> dict[str, str | None]:
    """The stubs of a stripped module file, in order, each once -> the section its message names."""
    found: dict[str, str | None] = {}
    for match in _STUB.finditer(text):
        found.setdefault(match.group("name"), match.group("section"))
    return found


def stub_names(text: str) -> list[str]:
    """The names of the stubs in a stripped module file, in order, each once."""
    return list(stub_sections(text))
