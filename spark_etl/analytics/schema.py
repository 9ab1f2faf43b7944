"""The analytics schema: built from the SQL files of ``views``, rebuilt when they change.

``views/objects.yaml`` lists the files in the order they are created, each after every object
it reads. Everything in the schema is derived data, so when the list or a file changes (or the
model's cart lost the schema's triggers), the schema is dropped and rebuilt.
"""

from __future__ import annotations

import hashlib
import logging
import re
import sys
from importlib import resources
from typing import TYPE_CHECKING, Any

from psycopg2 import sql

from spark_etl.config import read_yaml
from spark_etl.db.postgres import quoted
from spark_etl.errors import ConfigError

if TYPE_CHECKING:
    if sys.version_info >= (3, 11):
        from importlib.resources.abc import Traversable
    else:  # Python 3.10 has it in importlib.abc only
        from importlib.abc import Traversable

log = logging.getLogger(__name__)

VIEWS_DIR = "views"
OBJECTS_FILE = "objects.yaml"
DEFINITION_TABLE = "definition"
OBJECT_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")

# The triggers a schema's functions run (those cart_triggers.sql puts on cart).
TRIGGERS = """
SELECT count(*) AS triggers
FROM pg_trigger t
JOIN pg_proc p ON p.oid = t.tgfoid
WHERE p.pronamespace = to_regnamespace(%s) AND NOT t.tgisinternal
"""


def views_folder() -> Traversable:
    """The folder of the views' SQL files and the questions' YAML (also inside a zip)."""
    return resources.files("spark_etl.analytics").joinpath(VIEWS_DIR)


def objects(folder: Traversable | None = None) -> tuple[str, ...]:
    """The SQL files of ``folder`` (by default the package's ``views``) without their
    ``.sql``, in the order ``objects.yaml`` creates them; each file is listed once, and every
    listed file exists."""
    root = views_folder() if folder is None else folder
    where = (
        f"spark_etl/analytics/{VIEWS_DIR}/{OBJECTS_FILE}"
        if folder is None
        else str(root.joinpath(OBJECTS_FILE))
    )
    data = read_yaml(root.joinpath(OBJECTS_FILE), where)
    if not isinstance(data, dict) or set(data) != {"objects"}:
        keys = sorted(data) if isinstance(data, dict) else type(data).__name__
        raise ConfigError(f"{where} must hold the one key 'objects' (found {keys}).")
    names = data["objects"]
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ConfigError(f"{where}: 'objects' must be a list of SQL file names (no .sql).")
    files = {f.name[: -len(".sql")] for f in root.iterdir() if f.name.endswith(".sql")}
    for index, name in enumerate(names):
        if not OBJECT_NAME.match(name) or name not in files:
            raise ConfigError(f"{where}: 'objects.{index}': no file {name}.sql in the folder.")
        if name in names[:index]:
            raise ConfigError(f"{where}: 'objects.{index}': {name} is listed twice.")
    orphans = sorted(files - set(names))
    if orphans:
        raise ConfigError(f"{where}: 'objects' lists no {', '.join(orphans)} (their .sql files).")
    return tuple(names)


def view_names(folder: Traversable | None = None) -> tuple[str, ...]:
    """The objects whose file creates a view (plain or materialized) of the file's name."""
    root = views_folder() if folder is None else folder
    return tuple(
        name
        for name in objects(root)
        if re.search(
            rf"^CREATE (MATERIALIZED )?VIEW {name} ",
            root.joinpath(f"{name}.sql").read_text(encoding="utf-8"),
            flags=re.MULTILINE,
        )
    )


def definition_sql(folder: Traversable | None = None) -> str:
    """Every object's SQL in the order of ``objects.yaml``: what builds the schema."""
    root = views_folder() if folder is None else folder
    return "\n".join(
        root.joinpath(f"{name}.sql").read_text(encoding="utf-8") for name in objects(root)
    )


def definition_hash(folder: Traversable | None = None) -> str:
    """Changes with the order of the objects and with any of their files."""
    root = views_folder() if folder is None else folder
    digest = hashlib.sha256()
    for name in objects(root):
        text = root.joinpath(f"{name}.sql").read_text(encoding="utf-8")
        for part in (name, text):
            data = part.encode("utf-8")
            digest.update(len(data).to_bytes(8, "big") + data)  # no two lists hash alike
    return digest.hexdigest()


def ensure_views(conn: Any, model_schema: str, analytics_schema: str) -> bool:
    """Build the analytics schema if it is missing, outdated, or no longer told of the changes
    to cart (its triggers went with a cart table dropped, or to another analytics schema);
    return whether it was built."""
    wanted = definition_hash()
    schema = sql.Identifier(analytics_schema)
    with conn.cursor() as cur:
        cur.execute(
            "SELECT to_regclass(%s) IS NOT NULL AS present",
            (quoted(analytics_schema, DEFINITION_TABLE),),
        )
        if cur.fetchone()["present"]:
            # every column: a schema built by an earlier version has no trigger count
            cur.execute(
                sql.SQL("SELECT * FROM {}.{}").format(schema, sql.Identifier(DEFINITION_TABLE))
            )
            row = cur.fetchone() or {}
            cur.execute(TRIGGERS, (quoted(analytics_schema),))
            triggers = cur.fetchone()["triggers"]
            if row.get("sha256") == wanted and row.get("triggers") == triggers:
                return False
        cur.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(schema))
        cur.execute(sql.SQL("CREATE SCHEMA {}").format(schema))
        cur.execute(
            sql.SQL("SET LOCAL search_path TO {}, {}").format(schema, sql.Identifier(model_schema))
        )
        cur.execute(definition_sql())
        cur.execute(TRIGGERS, (quoted(analytics_schema),))
        triggers = cur.fetchone()["triggers"]
        cur.execute(
            sql.SQL("CREATE TABLE {}.{} (sha256 text NOT NULL, triggers bigint NOT NULL)").format(
                schema, sql.Identifier(DEFINITION_TABLE)
            )
        )
        cur.execute(
            sql.SQL("INSERT INTO {}.{} VALUES (%s, %s)").format(
                schema, sql.Identifier(DEFINITION_TABLE)
            ),
            (wanted, triggers),
        )
    conn.commit()
    log.info("Built the analytics views in schema %s", analytics_schema)
    return True
