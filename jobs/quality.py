"""Job `quality`: the recent runs of the load jobs with their figures and quality gates; exits 4
when the latest run of a job failed a gate.

python jobs/quality.py [--job JOB] [--runs N]     (reads the run audit; Spark is not needed)
"""

import sys

from spark_etl.cli.command import main

if __name__ == "__main__":
    sys.exit(main(["quality", *sys.argv[1:]]))
