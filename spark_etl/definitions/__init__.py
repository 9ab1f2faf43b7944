"""Entity and mapping definitions: typed models and their loader (no pyspark, no psycopg2)."""

from spark_etl.definitions.loader import Model, load_entities, load_mapping
from spark_etl.definitions.mapping import Mapping
from spark_etl.definitions.model import Entity

__all__ = ["Entity", "Mapping", "Model", "load_entities", "load_mapping"]
