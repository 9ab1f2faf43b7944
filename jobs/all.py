"""Job `all`: loads customers, then products, then cart lines.

spark-submit --jars /usr/share/java/postgresql.jar jobs/all.py --help
"""

import sys

from spark_etl.cli.main import main

if __name__ == "__main__":
    sys.exit(main("all"))
