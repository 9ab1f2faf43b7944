-- 0b. The first screen: each key figure of the latest whole month (the latest month when none
-- is whole) against the month before and the same month a year before. Changes are computed
-- from the exact figures, not from the rounded averages shown; *_partial says when the month
-- compared with is partial (the data starts inside it).
CREATE VIEW key_figures AS
WITH latest AS (
    SELECT COALESCE(max(month) FILTER (WHERE NOT partial), max(month)) AS month FROM monthly_kpi
), figures AS (
    SELECT k.month, k.partial, v.position, v.measure, v.unit, v.value
    FROM monthly_kpi k
    CROSS JOIN LATERAL (VALUES
        (1, 'revenue', 'currency', k.revenue),
        (2, 'sales', 'cart lines', CAST(k.sales AS numeric)),
        (3, 'buying customers', 'customers', CAST(k.buying_customers AS numeric)),
        (4, 'average basket value', 'currency', k.revenue / NULLIF(k.purchases, 0)),
        (5, 'average basket size', 'items', k.quantity / CAST(NULLIF(k.purchases, 0) AS numeric))
    ) AS v (position, measure, unit, value)
)
SELECT cur.month, cur.partial, cur.position, cur.measure, cur.unit,
       round(cur.value, 2) AS value, round(prev.value, 2) AS previous_month_value,
       round(cur.value / NULLIF(prev.value, 0) - 1, 4) AS change_vs_previous_month,
       round(yb.value, 2) AS year_before_value,
       round(cur.value / NULLIF(yb.value, 0) - 1, 4) AS change_vs_year_before,
       prev.partial AS previous_month_partial, yb.partial AS year_before_partial
FROM latest l
JOIN figures cur ON cur.month = l.month
LEFT JOIN figures prev ON prev.month = cur.month - interval '1 month' AND prev.position = cur.position
LEFT JOIN figures yb ON yb.month = cur.month - interval '12 months' AND yb.position = cur.position;
