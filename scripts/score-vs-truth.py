#!/usr/bin/env python3
"""How a model's scores of a synthetic world compare with the generator's ground truth, split
by split: the confusion of true class (truth/<world>) against the most probable class in a
`pdnsrep score` records dataset. The unlabelled split is the one no list covers, so it measures
what coverage is worth. Needs duckdb (`.venv-anchors`, see scripts/bench-features.sh).

usage: score-vs-truth.py ROOT WORLD SCORES_PREFIX
  e.g. .venv-anchors/bin/python scripts/score-vs-truth.py pdnsrep-data paper scores/rep
"""

import sys

import duckdb


def main() -> None:
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    root, world, prefix = sys.argv[1:]
    query = f"""
    WITH t AS (SELECT name, rrtype, rdata, class FROM read_parquet('{root}/truth/{world}/**/*.parquet')),
    r AS (SELECT * FROM read_parquet('{root}/{prefix}/records/**/*.parquet')),
    j AS (SELECT r.split, t.class,
      CASE WHEN r.p_malicious >= r.p_benign AND r.p_malicious >= r.p_sinkhole THEN 'malicious'
           WHEN r.p_sinkhole >= r.p_benign THEN 'sinkhole' ELSE 'benign' END AS predicted
      FROM t JOIN r USING (name, rrtype, rdata))
    SELECT split, class, predicted, count(*) AS records FROM j GROUP BY ALL ORDER BY ALL
    """
    rows = duckdb.connect().execute(query).fetchall()
    print("| split | true class | predicted | records | share of the class in the split |")
    print("|---|---|---|---:|---:|")
    totals = {}
    for split, cls, _, n in rows:
        totals[(split, cls)] = totals.get((split, cls), 0) + n
    for split, cls, predicted, n in rows:
        print(f"| {split} | {cls} | {predicted} | {n} | {n / totals[(split, cls)]:.3f} |")


if __name__ == "__main__":
    main()
