"""Print pip requirements generated from pyproject.toml: the images install exactly these pins.

    python images/requirements.py pyproject.toml [--extra gpu] > requirements.txt

The Dockerfiles copy pyproject.toml, run this, and `pip install -r` the result before the
source is copied (so the dependency layer is cached until a pin changes). Because the list
comes from pyproject, the versions in an image cannot drift from the repository's pins.
Standard library only: it runs on the bare base image.
"""
from __future__ import annotations

import argparse
import re
import sys
import tomllib

PIN = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*==\s*([^\s;,]+)\s*(;.*)?$")


def requirements(pyproject: dict, extras: list[str]) -> list[str]:
    """The project's dependencies plus the named extras; every one must be pinned with ==."""
    project = pyproject["project"]
    lines = list(project.get("dependencies", []))
    optional = project.get("optional-dependencies", {})
    for extra in extras:
        if extra not in optional:
            raise SystemExit(f"pyproject.toml has no optional dependency group {extra!r} "
                             f"(known: {', '.join(sorted(optional))})")
        lines.extend(optional[extra])
    unpinned = [line for line in lines if not PIN.match(line)]
    if unpinned:
        raise SystemExit("pyproject.toml: not pinned with == (images need exact versions): " + ", ".join(unpinned))
    return lines


def pins(lines: list[str]) -> dict[str, str]:
    """{normalised name: version} of pinned requirement lines."""
    result = {}
    for line in lines:
        match = PIN.match(line)
        if match:
            result[re.sub(r"[-_.]+", "-", match.group(1)).lower()] = match.group(3)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pyproject", help="path to pyproject.toml")
    parser.add_argument("--extra", action="append", default=[], help="optional dependency group to include")
    args = parser.parse_args(argv)
    with open(args.pyproject, "rb") as handle:
        data = tomllib.load(handle)
    sys.stdout.write("\n".join(requirements(data, args.extra)) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
