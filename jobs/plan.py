"""Job `plan`: prints the DDL a run of JOB (default all) would apply now; changes nothing.

python jobs/plan.py [JOB] [--entities DIR]     (reads PostgreSQL's catalog; Spark is not needed)
"""

import sys

from spark_etl.cli.main import main

if __name__ == "__main__":
    sys.exit(main("plan"))
