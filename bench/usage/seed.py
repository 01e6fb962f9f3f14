#!/usr/bin/env python3
"""Seeds N jobs of usage into a STOPPED Atrium server's database (the jobs table, with the columns
the jobs store writes), spread over the last DAYS days among the org's groups, users and projects;
then times the anchor: the same aggregation as one sqlite3 GROUP BY on a copy of the database.

  seed.py seed DB ORG_ID N DAYS USER_GROUP_PROJECT_JSON   (a list of [user_id, group_id, project_id])
  seed.py anchor DB ORG_ID FROM_MS TO_MS RUNS              (prints JSON: p50/p90 ms, rows, the plan)
"""
import json
import random
import sqlite3
import statistics
import sys
import time

H = 3_600_000


def seed(db_path, org, n, days, assoc_json):
    assoc = json.loads(assoc_json)
    rnd = random.Random(20261207)
    now = int(time.time() * 1000)
    t0 = now - days * 24 * H
    rows = []
    for i in range(n):
        user, group, project = assoc[rnd.randrange(len(assoc))]
        start = t0 + rnd.randrange(days * 24 * H)
        wall = rnd.randrange(5 * 60_000, 8 * H)
        end = start + wall
        cpus = rnd.choice((1, 1, 2, 4, 8, 16))
        gpus = rnd.choice(("[]",) * 6 + ("[0]", "[0,1]"))
        running = end > now
        rows.append((f"bench{i:07d}", org, project, group, user, cpus, gpus.count(",") + (gpus != "[]"),
                     "RUNNING" if running else "COMPLETED", start - 1000, start, None if running else end,
                     None if running else 0, cpus, gpus, None if running else cpus * wall / 1000 * 0.8))
    db = sqlite3.connect(db_path)
    with db:
        db.executemany(
            "INSERT INTO jobs (id, org_id, project_id, group_id, user_id, name, qos, nice, argv, script, env, uid,"
            " cpus, mem_mb, gpus, time_limit_ms, dependency, array_spec, state, held, reason, reason_detail,"
            " submit_ms, start_ms, end_ms, exit_code, alloc_cpus, alloc_mem_mb, alloc_gpus, cpu_seconds,"
            " requeue_count, version)"
            " VALUES (?, ?, ?, ?, ?, 'bench', 'normal', 0, '[\"true\"]', '', '{}', 2000001, ?, 1024, ?, 28800000, '',"
            " '', ?, 0, '', '', ?, ?, ?, ?, ?, 1024, ?, ?, 0, 1)", rows)
    db.close()


# The server's query (jobs/store_usage.cpp) and, as the anchor, the whole aggregation in SQL: the
# allocated CPU-hours per group and UTC day of each run's part inside [from, to), attributed to the
# day it starts in that window (no splitting at midnight: the server does more work than this).
_SELECT = ("SELECT group_id, start_ms, end_ms, alloc_cpus, alloc_gpus, cpu_seconds FROM jobs WHERE org_id = :org"
           " AND start_ms IS NOT NULL AND alloc_cpus IS NOT NULL AND start_ms < :to AND ")
SERVER_SQL = _SELECT + "end_ms > :from UNION ALL " + _SELECT + "end_ms IS NULL"
ANCHOR_SQL = ("SELECT group_id, MAX(start_ms, :from) / 86400000 AS day,"
              " SUM(alloc_cpus * (MIN(COALESCE(end_ms, :now), :to) - MAX(start_ms, :from))) / 3600000.0,"
              " SUM(json_array_length(alloc_gpus) * (MIN(COALESCE(end_ms, :now), :to) - MAX(start_ms, :from))) / 3600000.0"
              " FROM jobs WHERE org_id = :org AND start_ms IS NOT NULL AND alloc_cpus IS NOT NULL AND start_ms < :to"
              " AND (end_ms IS NULL OR end_ms > :from) GROUP BY 1, 2")


def anchor(db_path, org, frm, to, runs):
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    now = int(time.time() * 1000)
    p = {"org": org, "from": frm, "to": to, "now": now}
    plan = " / ".join(r[3] for r in db.execute("EXPLAIN QUERY PLAN " + SERVER_SQL, p))
    times, rows = [], 0
    for _ in range(runs):
        t = time.perf_counter()
        rows = len(db.execute(ANCHOR_SQL, p).fetchall())
        times.append((time.perf_counter() - t) * 1000)
    t = time.perf_counter()
    fetched = len(db.execute(SERVER_SQL, p).fetchall())
    fetch_ms = (time.perf_counter() - t) * 1000
    times.sort()
    print(json.dumps({"p50": statistics.median(times), "p90": times[int(0.9 * (len(times) - 1))], "groups": rows,
                      "plan": plan, "runs_fetched": fetched, "fetch_ms": fetch_ms}))


if __name__ == "__main__":
    if sys.argv[1] == "seed":
        seed(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6])
    else:
        anchor(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]))
