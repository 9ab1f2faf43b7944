"""Job `cart_data_transform`: loads the cart extract.

spark-submit --jars /usr/share/java/postgresql.jar jobs/cart_data_transform.py --help
"""

import sys

from spark_etl.cli.main import main

if __name__ == "__main__":
    sys.exit(main("cart_data_transform"))
