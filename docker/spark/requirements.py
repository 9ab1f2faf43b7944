"""Print the pinned requirements of pyproject.toml, one per line: the base dependencies and the
optional sets named on the command line (used by the Docker build, before the code is copied)."""

from __future__ import annotations

import sys

import tomllib


def main(pyproject: str, *extras: str) -> None:
    with open(pyproject, "rb") as handle:
        project = tomllib.load(handle)["project"]
    requirements = list(project["dependencies"])
    for extra in extras:
        requirements += project["optional-dependencies"][extra]
    print("\n".join(requirements))


if __name__ == "__main__":
    main(*sys.argv[1:])
