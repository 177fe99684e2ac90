-- The pcdns fleet report in DuckDB: per sensor and watched name, from Parquet transaction logs
-- (schema version 1) written with the expectations (--expect), so that `watched` names the
-- expected name and `unexpected` holds the addresses it does not allow:
--
--   responses, NXDOMAIN, SERVFAIL, unanswered, answered, p50/p99 latency (ms), wrong addresses
--   (in all and per address), answers to recursive queries with two or more addresses (at the
--   end of the CNAME chain) and how often each address came first in them, with its share.
--
-- Set where the logs are, then run this file:
--   duckdb -c "SET VARIABLE pcdns_logs = '/lake/pcdns/**/*.parquet'; .read fleet_report.sql"

WITH log AS (
    SELECT *, response_frame IS NOT NULL AS responded
    FROM read_parquet(getvariable('pcdns_logs'), hive_partitioning = true)
    WHERE watched IS NOT NULL
),
counts AS (
    SELECT
        sensor,
        watched AS name,
        count(*) FILTER (WHERE responded) AS responses,
        count(*) FILTER (WHERE responded AND rcode = 3) AS nxdomain,
        count(*) FILTER (WHERE responded AND rcode = 2) AS servfail,
        count(*) FILTER (WHERE status = 'unanswered') AS unanswered,
        count(*) FILTER (WHERE status = 'answered') AS answered,
        quantile_disc(rtt_ns, 0.5) FILTER (WHERE status = 'answered') / 1e6 AS p50_ms,
        quantile_disc(rtt_ns, 0.99) FILTER (WHERE status = 'answered') / 1e6 AS p99_ms,
        coalesce(sum(len(unexpected)) FILTER (WHERE responded), 0) AS wrong_addresses,
        count(*) FILTER (WHERE responded AND "RD" AND len(addresses) >= 2) AS multi_answers
    FROM log
    GROUP BY ALL
),
firsts AS (
    SELECT sensor, watched AS name, addresses[1] AS address, count(*) AS first
    FROM log
    WHERE responded AND "RD" AND len(addresses) >= 2
    GROUP BY ALL
),
wrongs AS (
    SELECT sensor, name, address, count(*) AS count
    FROM (SELECT sensor, watched AS name, unnest(unexpected) AS address FROM log WHERE responded)
    GROUP BY ALL
)
SELECT
    counts.*,
    (SELECT list({'address': w.address, 'count': w.count} ORDER BY w.address)
       FROM wrongs w WHERE w.sensor = counts.sensor AND w.name = counts.name) AS wrong,
    (SELECT list({'address': f.address, 'first': f.first, 'share': f.first / counts.multi_answers}
                 ORDER BY f.address)
       FROM firsts f WHERE f.sensor = counts.sensor AND f.name = counts.name) AS first
FROM counts
ORDER BY sensor, name;
