#!/usr/bin/env python3
"""Anchor for `pdnsrep features`: the same aggregation query in DuckDB.

Runs the query `pdnsrep features --print-sql` prints (per-name, per-registered-domain, per-IP and
per-prefix aggregates, neighbour label counts, joined back to every record and sorted) over the
parts of a labelled dataset on a local root, and writes the result as zstd Parquet, the way
pdnsrep's aggregation step writes its intermediate table. Prints one JSON line.

usage: duckdb_features.py ROOT DATASET SQL_FILE OUT_PARQUET [--threads N] [--memory 4GB]
"""
import argparse
import json
import os
import re
import time

import duckdb


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("root")
    ap.add_argument("dataset")
    ap.add_argument("sql_file")
    ap.add_argument("out")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--memory", default=None)
    ap.add_argument("--temp-dir", default=None)
    args = ap.parse_args()

    manifest = json.load(open(os.path.join(args.root, args.dataset, "_manifest.json")))
    files = [os.path.join(args.root, args.dataset, p["path"]) for p in manifest["parts"]]
    sql = open(args.sql_file).read()
    # pdnsrep reads timestamps as epoch milliseconds; DuckDB cannot cast TIMESTAMP to BIGINT,
    # so the view below hands it integers already and the casts become no-ops.
    con = duckdb.connect()
    con.execute(f"SET threads = {args.threads}")
    if args.memory:
        con.execute(f"SET memory_limit = '{args.memory}'")
    if args.temp_dir:
        con.execute(f"SET temp_directory = '{args.temp_dir}'")
    con.execute("SET preserve_insertion_order = false")
    con.execute("CREATE MACRO h64(s) AS CASE WHEN s IS NULL THEN NULL ELSE hash(s) END")
    con.execute("CREATE MACRO ip_h(b) AS CASE WHEN b IS NULL THEN NULL ELSE hash(b) END")
    # DuckDB 2.0 has no substring of a BLOB: cut the address's hex text instead (an IPv4-mapped
    # address starts with 20 zero digits and FFFF; keep 15 bytes of it, or 6 of an IPv6 one).
    con.execute(
        "CREATE MACRO ip_prefix_h(b) AS CASE WHEN b IS NULL THEN NULL "
        "WHEN substr(hex(b), 1, 24) = '00000000000000000000FFFF' THEN hash(substr(hex(b), 1, 30)) "
        "ELSE hash(substr(hex(b), 1, 12)) END"
    )
    file_list = ", ".join(f"'{f}'" for f in files)
    con.execute(
        "CREATE VIEW labelled AS SELECT * REPLACE ("
        "epoch_ms(first_seen) AS first_seen, epoch_ms(last_seen) AS last_seen) "
        f"FROM read_parquet([{file_list}])"
    )
    started = time.time()
    con.execute(f"COPY ({sql}) TO '{args.out}' (FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1)")
    elapsed = time.time() - started
    rows = con.execute(f"SELECT count(*) FROM read_parquet('{args.out}')").fetchone()[0]
    print(json.dumps({
        "engine": f"duckdb {duckdb.__version__}",
        "rows": rows,
        "seconds": elapsed,
        "records_per_s": rows / elapsed,
        "threads": args.threads,
        "memory_limit": args.memory,
    }))


if __name__ == "__main__":
    main()
