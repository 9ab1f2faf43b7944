"""Job `restore`: an archived month of cart lines brought back into PostgreSQL, checked.

spark-submit --jars /usr/share/java/postgresql.jar jobs/restore.py --month YYYY-MM
"""

import sys

from spark_etl.cli.main import main

if __name__ == "__main__":
    sys.exit(main("restore"))
