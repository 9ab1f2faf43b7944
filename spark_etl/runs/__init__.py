"""The jobs' use cases: one run lifecycle (lock, audit row, migrate, work, commit, refresh) for
every load and maintenance job."""
