"""Job `retention`: cart months and audit rows older than the retention settings keep online,
archived to Parquet, checked against PostgreSQL, then dropped (--dry-run: only say what).

spark-submit --jars /usr/share/java/postgresql.jar jobs/retention.py [--dry-run] [--config FILE]
"""

import sys

from spark_etl.cli.main import main

if __name__ == "__main__":
    sys.exit(main("retention"))
