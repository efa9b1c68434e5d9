#!/usr/bin/env python3
"""Writes N passive DNS observations as COF NDJSON for benchmarks.

The shape is what an ingest sees from a sensor feed: a heavy-tailed set of names (a few
popular, most rare), several answers per name, and repeated observations of the same record
across the feed, so that the merge does real work. Deterministic for a given seed.

usage: gen-cof.py N [--seed S] [--distinct-fraction F] > out.jsonl
"""
import argparse
import json
import random
import sys


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("n", type=int)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--distinct-fraction", type=float, default=0.4,
                        help="distinct records as a fraction of lines")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    names = max(1, int(args.n * args.distinct_fraction / 2))
    out = sys.stdout
    write = out.write
    base = 1_500_000_000
    tlds = ["com", "net", "org", "ru", "de", "info", "xyz", "io"]
    for i in range(args.n):
        # Pareto-ish popularity: low ids are drawn far more often.
        k = int(names * (rng.random() ** 3))
        name = f"h{k % 97}.d{k}.{tlds[k % len(tlds)]}"
        answer = k * 2 + (rng.random() < 0.5)
        if k % 11 == 0:
            rrtype, rdata = "AAAA", f"2001:db8:{answer >> 16 & 0xffff:x}::{answer & 0xffff:x}"
        elif k % 7 == 0:
            rrtype, rdata = "CNAME", f"edge{answer % 1000}.cdn{answer % 13}.net"
        else:
            rrtype, rdata = "A", f"{answer >> 24 & 255}.{answer >> 16 & 255}.{answer >> 8 & 255}.{answer & 255}"
        first = base + rng.randrange(0, 86400 * 365)
        rec = {
            "rrname": name,
            "rrtype": rrtype,
            "rdata": rdata,
            "time_first": first,
            "time_last": first + rng.randrange(0, 86400 * 30),
            "count": 1 + int(rng.paretovariate(1.2)),
            "sensor_id": f"s{k % 4}",
        }
        write(json.dumps(rec, separators=(",", ":")))
        write("\n")


if __name__ == "__main__":
    main()
