"""Job `product_data_transform`: loads the product extract.

spark-submit --jars /usr/share/java/postgresql.jar jobs/product_data_transform.py --help
"""

import sys

from spark_etl.cli.main import main

if __name__ == "__main__":
    sys.exit(main("product_data_transform"))
