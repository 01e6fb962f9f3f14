#!/usr/bin/env python3
"""Checks that every integration test file belongs to exactly one ctest entry (tests/CMakeLists.txt).

usage: check_integration_suites.py INTEGRATION_DIR NAME=PATH[,PATH...]...
A PATH is a test file or a folder (all test_*.py under it), relative to INTEGRATION_DIR. Run by
ctest as check.integration_suites; it imports nothing from the suite (no conftest)."""
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    root = Path(argv[1]).resolve()
    owners: dict[Path, list[str]] = {}
    problems = []
    for arg in argv[2:]:
        name, _, paths = arg.partition("=")
        for rel in filter(None, paths.split(",")):
            p = root / rel
            if not p.exists():
                problems.append(f"integration.{name} lists {rel}, which does not exist")
            files = sorted(p.rglob("test_*.py")) if p.is_dir() else [p]
            for f in files:
                owners.setdefault(f.resolve(), []).append(f"integration.{name}")
    for f in sorted(root.rglob("test_*.py")):
        rel = f.relative_to(root)
        got = owners.get(f.resolve(), [])
        if not got:
            problems.append(f"{rel} belongs to no integration entry: add it to one in tests/CMakeLists.txt")
        elif len(got) > 1:
            problems.append(f"{rel} belongs to {len(got)} entries ({', '.join(got)}): keep it in one")
    for p in problems:
        print(p)
    if not problems:
        print(f"{len(owners)} integration test files, each in exactly one entry")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
