#!/usr/bin/env python3
"""Each module owns its tables: lists the tables every module's SQL names and fails on SQL outside
a module's store files or on another module's table.

A table belongs to the module whose source creates it (CREATE [VIRTUAL] TABLE in its migrations).
SQL is found in C++ string literals (plain and raw; adjacent literals joined) that hold an upper-case
SQL keyword; the tables it names follow FROM, JOIN, INTO, UPDATE or TABLE. Test files are skipped.

usage: check_table_ownership.py SRC_DIR [--list]      (--list also prints every module's tables)
"""
import os
import re
import sys

# The files of each module that may hold SQL: its store. Any other file with SQL is an offender.
STORE_FILES = {
    "db": {"sqlite/sqlite_database.cpp", "database.hpp"},  # database.hpp: ping()
    "http": {"api.cpp"},  # the idempotency-key store of the API layer
    "audit": {"audit.cpp"},
    "quota": {"quota.cpp"},
    "identity": {"store.cpp", "orgs.cpp", "store_auth.cpp", "store_account.cpp"},
    "sso": {"store.cpp"},
    "projects": {"projects.cpp"},
    "data": {"store.cpp"},
    "vcs": {"store.cpp"},
    "jobs": {"store.cpp", "store_usage.cpp", "store_gauges.cpp"},
    "envs": {"store.cpp", "store_view.cpp"},
    "tasks": {"store.cpp"},
    "mail": {"store.cpp"},
    "mfa": {"store.cpp"},
    "secrets": {"store.cpp"},
    "images": {"store.cpp", "build_store.cpp"},
    "slurm": {"store.cpp"},
    "alerts": {"store.cpp"},
}

# Known offenders when this test landed, each being fixed by the helper named, as
# (module/file, table or "<sql>" for SQL outside a store file). Empty this list as they merge.
ALLOWED: set[tuple[str, str]] = set()  # (file, table) pairs tolerated while they are being fixed

SYSTEM_TABLES = {"sqlite_master", "sqlite_schema", "schema_migrations", "pragma_table_info"}
# What makes a run of literals SQL: a statement's shape (table names here are lower case, which
# keeps HTTP methods like "DELETE /api/..." and help texts like "FROM Path" out).
STATEMENT = re.compile(
    r"\bSELECT\b.*\bFROM\b|\bSELECT\s+[0-9a-z(*]|\bINSERT\s+(?:OR\s+[A-Z]+\s+)?INTO\s+[a-z_]"
    r"|\bUPDATE\s+[a-z_][a-z0-9_]*\s+SET\b|\bDELETE\s+FROM\s+[a-z_]|\b(?:CREATE|ALTER|DROP)\s+"
    r"(?:VIRTUAL\s+|UNIQUE\s+)?(?:TABLE|INDEX)\b|\b(?:FROM|JOIN)\s+[a-z_][a-z0-9_]*\b|\bPRAGMA\s+[a-z_]", re.S)
NAMES = re.compile(
    r"\b(?:FROM|JOIN|INTO|UPDATE|TABLE(?:\s+IF\s+(?:NOT\s+)?EXISTS)?)\s+([a-z_][a-z0-9_]*)")
CREATES = re.compile(r"\bCREATE\s+(?:VIRTUAL\s+)?TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?([A-Za-z_][A-Za-z0-9_]*)")
CTE = re.compile(r"(?:\bWITH\s+(?:RECURSIVE\s+)?|,\s*)([A-Za-z_][A-Za-z0-9_]*)\s+AS\s*\(")
LITERAL = re.compile(r'R"([^(\s]*)\((.*?)\)\1"|"((?:[^"\\\n]|\\.)*)"', re.S)


def strip_comments(code):
    out, i, n = [], 0, len(code)
    while i < n:
        m = LITERAL.match(code, i) if code[i] in 'R"' else None
        if m and (code[i] == '"' or code.startswith('R"', i)):
            out.append(m.group(0))
            i = m.end()
        elif code.startswith("//", i):
            j = code.find("\n", i)
            i = n if j < 0 else j
        elif code.startswith("/*", i):
            j = code.find("*/", i + 2)
            i = n if j < 0 else j + 2
        elif code[i] == "'" and i > 0 and code[i - 1].isalnum():  # a digit separator: 3600'000
            out.append(" ")
            i += 1
        elif code[i] == "'":  # a char literal such as '"'
            j = i + 1
            while j < n and code[j] != "'":
                j += 2 if code[j] == "\\" else 1
            out.append(" ")
            i = j + 1
        else:
            out.append(code[i])
            i += 1
    return "".join(out)


def sql_texts(code):
    """The SQL of a file: runs of string literals joined (with what stands between them, like
    `+ expr +`, read as a gap), each run that holds an SQL keyword."""
    code = strip_comments(code)
    runs, cur, last_end = [], [], None
    for m in LITERAL.finditer(code):
        text = m.group(2) if m.group(2) is not None else m.group(3)
        between = code[last_end:m.start()] if last_end is not None else ""
        if cur and (";" in between or "{" in between or "}" in between or between.count("\n") > 2):
            runs.append(" ".join(cur))
            cur = []
        cur.append(text)
        last_end = m.end()
    if cur:
        runs.append(" ".join(cur))
    return [r for r in runs if STATEMENT.search(r)]


def tables_named(sql):
    ctes = set(CTE.findall(sql))
    return {t for t in NAMES.findall(sql) if t not in ctes}


def scan(src):
    owner, uses = {}, {}  # table -> module; (module, rel) -> (has_sql, tables)
    for module in sorted(os.listdir(src)):
        mdir = os.path.join(src, module)
        if not os.path.isdir(mdir):
            continue
        for root, _, files in os.walk(mdir):
            for f in sorted(files):
                if not f.endswith((".cpp", ".hpp")) or f.endswith(("_test.cpp", "_pgtest.cpp")):
                    continue
                path = os.path.join(root, f)
                rel = os.path.relpath(path, mdir)
                with open(path, encoding="utf-8", errors="replace") as fh:
                    texts = sql_texts(fh.read())
                if not texts:
                    continue
                tables = set()
                for t in texts:
                    for c in CREATES.findall(t):
                        if owner.setdefault(c, module) != module:
                            sys.exit(f"table {c} is created by both {owner[c]} and {module}")
                    tables |= tables_named(t)
                uses[(module, rel)] = tables
    return owner, uses


def offences(owner, uses):
    found = []
    for (module, rel), tables in sorted(uses.items()):
        where = f"{module}/{rel}"
        if rel not in STORE_FILES.get(module, set()):
            found.append((where, "<sql>", "SQL outside the module's store files"))
        for t in sorted(tables):
            if t in SYSTEM_TABLES:
                continue
            if t not in owner:
                found.append((where, t, "names a table no module creates"))
            elif owner[t] != module:
                found.append((where, t, f"names {owner[t]}'s table"))
    return found


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    owner, uses = scan(argv[1])
    # The scanner itself: a tree where it finds no SQL means it broke, not that all is well.
    sample = 'q("SELECT a FROM t1 x JOIN t2 ON 1 " + k + " WHERE b = 3600\'000"); e("INSERT INTO t3 VALUES (1)");'
    assert sorted(tables_named(" ".join(sql_texts(sample)))) == ["t1", "t2", "t3"], sql_texts(sample)
    assert sql_texts('h("DELETE /api/v1/x"); h("FROM Path in the project");') == []
    if len(owner) < 10 or not uses:
        sys.exit(f"found only {len(owner)} tables and {len(uses)} files with SQL under {argv[1]}: scanner broken?")
    if "--list" in argv:
        by_module = {}
        for (module, rel), tables in uses.items():
            by_module.setdefault(module, set()).update(tables)
        for module in sorted(by_module):
            own = sorted(t for t, m in owner.items() if m == module)
            print(f"{module}: owns {', '.join(own) or '-'}; names {', '.join(sorted(by_module[module])) or '-'}")
    found = offences(owner, uses)
    bad = [f for f in found if f[:2] not in ALLOWED]
    stale = sorted(ALLOWED - {f[:2] for f in found})
    for where, table, why in found:
        tag = "allowed" if (where, table) in ALLOWED else "OFFENDER"
        print(f"{tag}: {where}: {table}: {why}")
    for where, table in stale:
        print(f"STALE allow-list entry (fixed? remove it): {where}: {table}")
    if bad or stale:
        print(f"{len(bad)} offender(s), {len(stale)} stale allow-list entr(y/ies)")
        return 1
    print(f"ok: {len(owner)} tables, {len(uses)} files with SQL, {len(found)} allowed offence(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
