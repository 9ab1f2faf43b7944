"""Job `customer_data_transform`: loads the customer extract.

spark-submit --jars /usr/share/java/postgresql.jar jobs/customer_data_transform.py --help
"""

import sys

from spark_etl.cli.main import main

if __name__ == "__main__":
    sys.exit(main("customer_data_transform"))
