"""The spark-etl command for spark-submit: any job by its subcommand.

spark-submit --jars /usr/share/java/postgresql.jar jobs/main.py load cart --input-dir DIR
"""

import sys

from spark_etl.cli.command import main

if __name__ == "__main__":
    sys.exit(main())
