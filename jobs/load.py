"""Any load job by name: one per entity definition (built in, or in --entities DIR), and all.

spark-submit --jars /usr/share/java/postgresql.jar jobs/load.py JOB --input-dir DIR [--entities DIR]
"""

import sys

from spark_etl.cli.main import main

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1].startswith("-"):
        print("usage: load.py JOB [ARGS...]  (<entity>_data_transform or all)", file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1], sys.argv[2:]))
