#!/usr/bin/env python3
"""The house rules that a machine can check (issue 15), run by ctest as `house.sizes`:
no source file under src/ over 700 lines and no function over 120 lines (universal-ctags finds the
functions; a lambda counts inside the function that holds it), and no merge conflict marker left in
a tracked source, test, doc or web file. Prints each offender; exit 1 if any."""
import json
import pathlib
import subprocess
import sys

MAX_FILE, MAX_FUNCTION = 700, 120
root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else pathlib.Path(__file__).resolve().parent.parent)
files = sorted(p for p in (root / "src").rglob("*") if p.suffix in (".cpp", ".hpp", ".c", ".h"))
bad = []
for f in files:
    n = sum(1 for _ in f.open(encoding="utf-8", errors="replace"))
    if n > MAX_FILE:
        bad.append(f"{f.relative_to(root)}: {n} lines (at most {MAX_FILE})")
out = subprocess.run(["ctags", "--output-format=json", "--fields=+ne", "--c++-kinds=f", "--kinds-c=f", "-o", "-",
                      *map(str, files)], capture_output=True, text=True, check=True).stdout
for line in out.splitlines():
    t = json.loads(line)
    if t.get("_type") != "tag" or "end" not in t or t["name"].startswith("__anon"):
        continue
    length = t["end"] - t["line"] + 1
    if length > MAX_FUNCTION:
        scope = t.get("scope", "")
        name = f"{scope}::{t['name']}" if scope else t["name"]
        bad.append(f"{pathlib.Path(t['path']).relative_to(root)}:{t['line']}: {name}: {length} lines "
                   f"(at most {MAX_FUNCTION})")
# A conflict marker a merge or rebase left behind (git grep: tracked files only, whole lines).
markers = subprocess.run(["git", "-C", str(root), "grep", "-nE", "^(<{7}|>{7})( |$)", "--", "src", "tests", "web/src",
                          "web/e2e", "docs", "scripts", "bench", "README.md"], capture_output=True, text=True).stdout
bad += [f"{m}: merge conflict marker" for m in markers.splitlines()]
for b in bad:
    print(b)
print(f"house: {len(files)} files, {len(bad)} over the limits")
sys.exit(1 if bad else 0)
