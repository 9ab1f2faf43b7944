"""``python -m spark_etl``: the ``spark-etl`` command."""

import sys

from spark_etl.cli.command import main

if __name__ == "__main__":
    sys.exit(main())
