#!/usr/bin/env python3
"""Writes a `git fast-import` stream of a synthetic, deterministic repository to stdout (standard
library only; used by bench/git/run.sh):

  make_repo.py FILES COMMITS [SEED]

Commit 1 adds FILES text files ("source-like" lines of words, 10–80 lines, ~2 KiB each) in nested
directories (3 levels, ~25 files per leaf directory). Each of the other COMMITS − 1 commits touches
1–5 files: mostly edits of a few lines (so history deltas well, as real code does), sometimes a new
file (2 %) or a removed one (1 %). Branch `main`; an annotated tag every 100 commits. Author and
committer dates advance one hour per commit from a fixed start, so the same arguments always give
the same commit ids.
"""
from __future__ import annotations

import random
import sys

START = 1_600_000_000  # 2020-09-13


def main() -> None:
    files, commits = int(sys.argv[1]), int(sys.argv[2])
    seed = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    rng = random.Random(seed)
    vocab = ["".join(rng.choices("abcdefghijklmnopqrstuvwxyz_", k=rng.randint(2, 10))) for _ in range(600)]
    vocab += ["=", "(", ")", "{", "}", ";", "return", "if", "for", "int", "const", "auto", "//", "+", "->"]
    out = sys.stdout.buffer

    def line() -> str:
        return " " * (2 * rng.randint(0, 4)) + " ".join(rng.choices(vocab, k=rng.randint(3, 10)))

    def new_content() -> list[str]:
        return [line() for _ in range(rng.randint(10, 80))]

    # Directory fan-out: a × b leaf directories of ~25 files each.
    leaves = max(1, files // 25)
    a = max(1, round(leaves ** 0.5))
    b = max(1, -(-leaves // a))
    exts = [".c", ".h", ".py", ".md", ".txt", ".json"]

    def path_for(i: int) -> str:
        leaf = i % (a * b)
        return f"src{leaf // b:02d}/mod{leaf % b:02d}/{vocab[i % 600][:8]}_{i:05d}{exts[i % len(exts)]}"

    tree: dict[str, list[str]] = {}
    next_id = 0
    for _ in range(files):
        tree[path_for(next_id)] = new_content()
        next_id += 1

    def data(text: bytes) -> None:
        out.write(b"data %d\n" % len(text))
        out.write(text)
        out.write(b"\n")

    def commit(n: int, msg: str, ops: list[tuple[str, str]]) -> None:
        when = START + n * 3600
        out.write(b"commit refs/heads/main\n")
        out.write(b"mark :%d\n" % n)
        ident = f"Bench Author {n % 7} <author{n % 7}@example.org> {when} +0000\n".encode()
        out.write(b"author " + ident)
        out.write(b"committer " + ident)
        data(msg.encode())
        for op, p in ops:
            if op == "M":
                out.write(f"M 100644 inline {p}\n".encode())
                data(("\n".join(tree[p]) + "\n").encode())
            else:
                out.write(f"D {p}\n".encode())
        out.write(b"\n")
        if n % 100 == 0:
            out.write(f"tag v{n // 100}.0\nfrom :{n}\n".encode())
            out.write(f"tagger Bench Tagger <tagger@example.org> {when} +0000\n".encode())
            data(f"release {n // 100}.0\n".encode())

    commit(1, f"initial import of {files} files\n", [("M", p) for p in tree])
    paths = list(tree)
    for n in range(2, commits + 1):
        ops: list[tuple[str, str]] = []
        roll = rng.random()
        if roll < 0.02:
            p = path_for(next_id)
            next_id += 1
            tree[p] = new_content()
            paths.append(p)
            ops.append(("M", p))
        elif roll < 0.03 and len(paths) > 1:
            p = paths.pop(rng.randrange(len(paths)))
            del tree[p]
            ops.append(("D", p))
        for p in set(rng.sample(paths, rng.randint(1, 5))):
            lines = tree[p]
            for _ in range(rng.randint(1, 4)):
                k = rng.randrange(len(lines))
                if rng.random() < 0.3:
                    lines.insert(k, line())
                else:
                    lines[k] = line()
            ops.append(("M", p))
        commit(n, f"change {n}: edit {len(ops)} file(s)\n", ops)
    out.write(b"done\n")
    out.flush()


if __name__ == "__main__":
    main()
