#!/usr/bin/env python3
"""SQLite write amplification of run events, outside agentd (docs/benchmarks.md, "store writer").

Inserts RUNS x EVENTS_PER_RUN events interleaved across runs (as many concurrent runs produce
them), TXN events per transaction, WAL + synchronous=NORMAL like agentd, and prints the bytes the
process passed to write() per event (WAL frames + checkpoints, from /proc/self/io) for agentd's
run_events layout and for variants. Usage: python3 bench/sqlite_event_layout.py 10000 10 1000
"""
import os, sqlite3, tempfile, uuid, time, json, sys
RUNS, EVENTS_PER_RUN, TXN = (int(a) for a in (sys.argv[1:4] if len(sys.argv) > 3 else (10000, 10, 1000)))
data = json.dumps({"type":"assistant","content":{"role":"assistant","content":"\nw12"},"metadata":{"stream_status":"chunk"},"timestamp":"2026-12-04T17:00:00.000Z","_event_id":"12"})
def run(name, schema, insert, update):
    d = tempfile.mkdtemp(); path = os.path.join(d, "t.db")
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL"); db.execute("PRAGMA synchronous=NORMAL")
    db.executescript(schema)
    ids = [str(uuid.uuid4()) for _ in range(RUNS)]
    db.execute("BEGIN")
    for i, r in enumerate(ids): db.execute("INSERT INTO agent_runs(creation_order, run_id, last_seq) VALUES (?,?,0)", (i+1, r))
    db.execute("COMMIT")
    pid = os.getpid()
    def wchar():
        for line in open(f"/proc/{pid}/io"):
            if line.startswith("wchar"): return int(line.split()[1])
    w0 = wchar(); t0 = time.time(); n = 0
    db.execute("BEGIN")
    for seq in range(1, EVENTS_PER_RUN+1):
        for i, r in enumerate(ids):
            insert(db, i+1, r, seq)
            if update: db.execute("UPDATE agent_runs SET last_seq=? WHERE run_id=?", (seq, r))
            n += 1
            if n % TXN == 0: db.execute("COMMIT"); db.execute("BEGIN")
    db.execute("COMMIT")
    dt = time.time() - t0; w = wchar() - w0
    print(f"{name:58s} {w/n/1024:7.1f} KiB written/event  {n/dt:8.0f} events/s (python)")
base_runs = "CREATE TABLE agent_runs(creation_order INTEGER PRIMARY KEY, run_id TEXT NOT NULL UNIQUE, last_seq INTEGER NOT NULL);"
run("agentd: (run_id uuid, seq) WITHOUT ROWID + UPDATE last_seq",
    base_runs + "CREATE TABLE run_events(run_id TEXT NOT NULL, seq INTEGER NOT NULL, data TEXT NOT NULL, created_at INTEGER NOT NULL, PRIMARY KEY(run_id, seq)) WITHOUT ROWID;",
    lambda db, n, r, s: db.execute("INSERT INTO run_events VALUES (?,?,?,0)", (r, s, data)), True)
run("same, no per-event UPDATE last_seq",
    base_runs + "CREATE TABLE run_events(run_id TEXT NOT NULL, seq INTEGER NOT NULL, data TEXT NOT NULL, created_at INTEGER NOT NULL, PRIMARY KEY(run_id, seq)) WITHOUT ROWID;",
    lambda db, n, r, s: db.execute("INSERT INTO run_events VALUES (?,?,?,0)", (r, s, data)), False)
run("rowid-ordered events + index (run_id uuid, seq), no UPDATE",
    base_runs + "CREATE TABLE run_events(id INTEGER PRIMARY KEY, run_id TEXT NOT NULL, seq INTEGER NOT NULL, data TEXT NOT NULL, created_at INTEGER NOT NULL); CREATE UNIQUE INDEX ev ON run_events(run_id, seq);",
    lambda db, n, r, s: db.execute("INSERT INTO run_events(run_id,seq,data,created_at) VALUES (?,?,?,0)", (r, s, data)), False)
run("rowid-ordered events + index (run integer, seq), no UPDATE",
    base_runs + "CREATE TABLE run_events(id INTEGER PRIMARY KEY, run INTEGER NOT NULL, seq INTEGER NOT NULL, data TEXT NOT NULL, created_at INTEGER NOT NULL); CREATE UNIQUE INDEX ev ON run_events(run, seq);",
    lambda db, n, r, s: db.execute("INSERT INTO run_events(run,seq,data,created_at) VALUES (?,?,?,0)", (n, s, data)), False)
