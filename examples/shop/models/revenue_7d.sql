-- Rolling 7-day totals for ONE day d: sums daily_revenue over days d-6..d, per currency.
-- The window reaches 6 days back, which tidemark.yaml declares as depends_on lookback: 6.
SELECT
  CAST({{ start }} AS DATE) AS day,
  currency,
  CAST(SUM(orders) AS BIGINT) AS orders_7d,
  CAST(SUM(revenue_usd_cents) AS BIGINT) AS revenue_usd_cents_7d
FROM {{ ref('daily_revenue') }}
WHERE day >= {{ start }} - INTERVAL '6 days'
  AND day < {{ end }}
GROUP BY currency
