"""The pcdns fleet report on Spark: reads many sensors' Parquet transaction logs
(`pcdns log --format parquet` or `pcdns monitor --log-parquet`, schema version 1) and the
expectations file, and computes per sensor and watched name what `pcdns analyze` reports:

  responses, NXDOMAIN, SERVFAIL, unanswered queries, answered queries, p50/p99 latency (ms),
  wrong addresses (addresses the expectations do not allow, in answers with data), and how often
  each member came first in recursive answers with two or more addresses (the addresses at the
  end of the CNAME chain), with its share.

Usage:
  spark-submit fleet_report.py --logs s3a://lake/pcdns --expect contoso.toml [--json out.json]

Without --json the report is printed as a table. The logs must have been written with the same
expectations (--expect), so that `watched` names the expected name an alias counts for.
"""

import argparse
import ipaddress
import json
import tomllib

from pyspark.sql import SparkSession
from pyspark.sql import functions as F


def expected_names(path):
    """{normalized name: (members, allowed)} from a pcdns expectations file."""
    with open(path, "rb") as f:
        shape = tomllib.load(f)
    names = {}
    sections = [
        (shape.get("server", []), lambda e: [e["address"]], lambda e: []),
        (shape.get("pool", []), lambda e: e["members"], lambda e: e.get("standby", [])),
        (shape.get("host", []), lambda e: e["addresses"], lambda e: []),
    ]
    for entries, members_of, standby_of in sections:
        for entry in entries:
            key = entry["name"].rstrip(".").lower()
            members = [str(ipaddress.ip_address(a)) for a in members_of(entry)]
            standby = [str(ipaddress.ip_address(a)) for a in standby_of(entry)]
            names[key] = (members, members + standby)
    return names


def fleet_report(spark, logs, expect):
    names = expected_names(expect)
    expected = spark.createDataFrame(
        [(key, members, allowed) for key, (members, allowed) in names.items()],
        "name_key string, members array<string>, allowed array<string>",
    )
    log = (
        spark.read.option("recursiveFileLookup", "false")
        .parquet(logs)
        .where(F.col("watched").isNotNull())
        .withColumn("name_key", F.lower(F.regexp_replace("watched", r"\.$", "")))
        .join(F.broadcast(expected), "name_key", "left")
    )
    responded = F.col("response_frame").isNotNull()
    # The analysis's NOERROR with data for A/AAAA questions: addresses at the chain's end.
    with_data = (F.col("rcode") == 0) & (F.size("addresses") > 0)
    wrong = F.when(
        responded & with_data,
        F.filter("addresses", lambda a: ~F.array_contains(F.col("allowed"), a)),
    ).otherwise(F.array().cast("array<string>"))
    log = log.withColumn("wrong", wrong)
    counts = log.groupBy("sensor", "watched").agg(
        F.sum(responded.cast("long")).alias("responses"),
        F.sum((responded & (F.col("rcode") == 3)).cast("long")).alias("nxdomain"),
        F.sum((responded & (F.col("rcode") == 2)).cast("long")).alias("servfail"),
        F.sum((F.col("status") == "unanswered").cast("long")).alias("unanswered"),
        F.sum((F.col("status") == "answered").cast("long")).alias("answered"),
        F.percentile_approx(
            F.when(F.col("status") == "answered", F.col("rtt_ns")), F.array(F.lit(0.5), F.lit(0.99)), 1000000
        ).alias("latency_ns"),
        F.sum(F.size("wrong")).alias("wrong_addresses"),
        F.sum((responded & F.col("RD") & (F.size("addresses") >= 2)).cast("long")).alias("multi_answers"),
    )
    firsts = (
        log.where(responded & F.col("RD") & (F.size("addresses") >= 2))
        .withColumn("address", F.col("addresses")[0])
        .where(F.array_contains(F.col("members"), F.col("address")))
        .groupBy("sensor", "watched", "address")
        .count()
    )
    wrongs = (
        log.select("sensor", "watched", F.explode("wrong").alias("address"))
        .groupBy("sensor", "watched", "address")
        .count()
    )
    report = {}
    for row in counts.collect():
        latency = row["latency_ns"] or [None, None]
        report[(row["sensor"], row["watched"])] = {
            "sensor": row["sensor"],
            "name": row["watched"],
            "responses": row["responses"],
            "nxdomain": row["nxdomain"],
            "servfail": row["servfail"],
            "unanswered": row["unanswered"],
            "answered": row["answered"],
            "p50_ms": None if latency[0] is None else latency[0] / 1e6,
            "p99_ms": None if latency[1] is None else latency[1] / 1e6,
            "wrong_addresses": row["wrong_addresses"],
            "wrong": {},
            "multi_answers": row["multi_answers"],
            "first": {},
        }
    for row in firsts.collect():
        entry = report[(row["sensor"], row["watched"])]
        entry["first"][row["address"]] = {
            "count": row["count"],
            "share": row["count"] / entry["multi_answers"],
        }
    for row in wrongs.collect():
        report[(row["sensor"], row["watched"])]["wrong"][row["address"]] = row["count"]
    return [report[key] for key in sorted(report)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--logs", required=True, help="folder (or URL) of the Parquet logs")
    parser.add_argument("--expect", required=True, help="the expectations file (TOML)")
    parser.add_argument("--json", help="write the report as JSON to this file")
    args = parser.parse_args()
    spark = SparkSession.builder.appName("pcdns fleet report").getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    rows = fleet_report(spark, args.logs, args.expect)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    else:
        for row in rows:
            firsts = ", ".join(f"{a} {v['share']:.0%}" for a, v in sorted(row["first"].items()))
            print(
                f"{row['sensor']:<16} {row['name']:<40} responses {row['responses']:>8} "
                f"NXDOMAIN {row['nxdomain']} SERVFAIL {row['servfail']} "
                f"unanswered {row['unanswered']} wrong {row['wrong_addresses']} "
                f"p50 {row['p50_ms']} ms p99 {row['p99_ms']} ms first: {firsts}"
            )
    spark.stop()


if __name__ == "__main__":
    main()
