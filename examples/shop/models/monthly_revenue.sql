-- Totals for ONE month, per currency. The partition key is the first day of the month;
-- the window [start, end) covers every day of that month in daily_revenue.
SELECT
  CAST(date_trunc('month', day) AS DATE) AS month,
  currency,
  CAST(SUM(orders) AS BIGINT) AS orders,
  CAST(SUM(revenue_usd_cents) AS BIGINT) AS revenue_usd_cents
FROM {{ ref('daily_revenue') }}
WHERE day >= {{ start }}
  AND day < {{ end }}
GROUP BY CAST(date_trunc('month', day) AS DATE), currency
