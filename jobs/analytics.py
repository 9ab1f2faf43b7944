"""Job `analytics`: refreshes the analytics views, prints their answers and writes the report.

python jobs/analytics.py --output-dir report     (runs in PostgreSQL; Spark is not needed)
"""

import sys

from spark_etl.cli.main import main

if __name__ == "__main__":
    sys.exit(main("analytics"))
