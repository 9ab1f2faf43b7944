"""Job `generate_data`: writes a synthetic, deterministic input set.

spark-submit --jars /usr/share/java/postgresql.jar jobs/generate_data.py --help
"""

import sys

from spark_etl.cli.main import main

if __name__ == "__main__":
    sys.exit(main("generate_data"))
