-- Paid revenue for ONE day, per currency, also converted to USD cents with that day's FX rate.
-- The start/end template tags render as DATE literals of the half-open window [start, end).
SELECT
  o.order_date AS day,
  o.currency AS currency,
  CAST(COUNT(*) AS BIGINT) AS orders,
  CAST(SUM(o.amount_cents) AS BIGINT) AS revenue_cents,
  CAST(SUM(round(o.amount_cents * f.usd_per_unit)) AS BIGINT) AS revenue_usd_cents
FROM {{ ref('orders') }} AS o
JOIN {{ ref('fx_rates') }} AS f
  ON f.rate_date = o.order_date
 AND f.currency = o.currency
WHERE o.status = 'paid'
  AND o.order_date >= {{ start }}
  AND o.order_date < {{ end }}
GROUP BY o.order_date, o.currency
