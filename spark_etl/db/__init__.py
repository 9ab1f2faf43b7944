"""PostgreSQL through psycopg2: connections, the audit tables, DDL, migrations, partitions,
merges."""
