"""Job `lake`: `sync` compares every Iceberg table of the lake (lake.warehouse) with what
PostgreSQL holds, month by month, and writes again what differs.

spark-submit --jars /usr/share/java/postgresql.jar jobs/lake.py sync [--config FILE]
"""

import sys

from spark_etl.cli.main import main

if __name__ == "__main__":
    sys.exit(main("lake"))
