"""The analytics report: a compact answer per question on the terminal, and a folder that opens
offline: ``index.html`` (key figures, then each question with its charts, definition and first
rows), ``plotly.min.js`` beside it (the charting library, so no network is needed) and one CSV
per view (written by ``queries.export_csv``, streamed from PostgreSQL).

Nothing here aggregates: every chart draws the rows ``queries.fetch_chart`` read for it.
"""
