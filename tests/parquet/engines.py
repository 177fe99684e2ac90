"""Reads pcdns Parquet logs with real engines for tests/parquet.rs.

  engines.py schema DOC FILE...   pyarrow: every file's schema is the one docs/log.md documents
                                  (names, types, nullability, order) and its metadata has the
                                  schema version; prints {"rows": N, "statuses": {...}} as DuckDB
                                  counts them over the files.
  engines.py duckdb SQL GLOB      runs the DuckDB fleet report; prints it as JSON in the shape
                                  examples/spark/fleet_report.py --json writes.
"""

import json
import re
import sys


def simple_type(t):
    """An Arrow type in the docs' notation."""
    import pyarrow as pa

    if pa.types.is_timestamp(t):
        return f"timestamp({t.unit}, {t.tz})"
    if pa.types.is_list(t):
        return f"list<{simple_type(t.value_type)}>"
    if pa.types.is_struct(t):
        fields = ", ".join(f"{t.field(i).name}: {simple_type(t.field(i).type)}" for i in range(t.num_fields))
        return f"struct<{fields}>"
    return str(t)


def split_top_level(text):
    """`text` split at the commas outside <...> and (...)."""
    parts, depth, current = [], 0, ""
    for c in text:
        depth += c in "<(" and 1 or 0
        depth -= c in ">)" and 1 or 0
        if c == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += c
    return parts + [current.strip()]


def documented_columns(doc):
    """[(name, type, nullable)] from the Parquet table of docs/log.md, in order."""
    text = open(doc, encoding="utf-8").read()
    table = text.split("## Parquet", 1)[1]
    columns = []
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        if len(cells) != 4 or not cells[0].startswith("`"):
            continue
        names = re.findall(r"`([^`]+)`", cells[0])
        types = split_top_level(cells[1])
        if len(types) == 1:
            types = types * len(names)
        assert len(types) == len(names), line
        for name, type_ in zip(names, types):
            columns.append((name, type_, cells[2] == "yes"))
    return columns


def check_schema(doc, files):
    import duckdb
    import pyarrow.parquet as pq

    expected = documented_columns(doc)
    problems = []
    for path in files:
        schema = pq.read_schema(path)
        actual = [(f.name, simple_type(f.type), f.nullable) for f in schema]
        if actual != expected:
            problems.append(f"{path}: schema\n  {actual}\ndiffers from docs/log.md\n  {expected}")
        metadata = pq.read_metadata(path).metadata or {}
        if metadata.get(b"pcdns.schema_version") != b"1":
            problems.append(f"{path}: pcdns.schema_version is {metadata.get(b'pcdns.schema_version')}")
    if problems:
        sys.exit("\n".join(problems))
    con = duckdb.connect()
    statuses = dict(
        con.execute("SELECT status, count(*) FROM read_parquet(?) GROUP BY status", [files]).fetchall()
    )
    print(json.dumps({"rows": sum(statuses.values()), "statuses": statuses}))


def duckdb_report(sql, glob):
    import duckdb

    con = duckdb.connect()
    con.execute(f"SET VARIABLE pcdns_logs = '{glob}'")
    result = con.execute(open(sql, encoding="utf-8").read())
    columns = [d[0] for d in result.description]
    rows = []
    for values in result.fetchall():
        row = dict(zip(columns, values))
        row["wrong"] = {w["address"]: w["count"] for w in row["wrong"] or []}
        row["first"] = {f["address"]: {"count": f["first"], "share": f["share"]} for f in row["first"] or []}
        rows.append(row)
    print(json.dumps(rows, indent=1, default=float))


if __name__ == "__main__":
    if sys.argv[1] == "schema":
        check_schema(sys.argv[2], sys.argv[3:])
    elif sys.argv[1] == "duckdb":
        duckdb_report(sys.argv[2], sys.argv[3])
    else:
        sys.exit(f"unknown command {sys.argv[1]}")
