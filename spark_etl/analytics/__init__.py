"""The analytics layer in PostgreSQL: its views, their refresh, and the answers they give.

- ``views/``: one SQL file per object of the analytics schema, created in the order of
  ``views/objects.yaml``; ``views/questions/``: one YAML file per business question.
- ``questions``: the questions' types, loaded from that YAML; ``schema``: the schema built from
  the SQL (rebuilt when it changes); ``summaries``: the tables summarizing the cart lines;
  ``scheduler``: the refresh order and its pool of workers; ``refresh``: the refresh, each view
  stored twice so that readers never wait; ``queries``: the read API; ``report``: the terminal
  summary and the HTML report.

Nothing here imports pyspark: the analytics run in PostgreSQL.
"""
