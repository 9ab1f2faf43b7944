"""Lake faults: a load killed during its lake write (the files written, not committed; the
snapshot committed, its pending ranges not cleared) leaves PostgreSQL committed, and the next
run leaves exactly one copy of every row in the lake, from files no killed run wrote.

The kills are real: the job runs in a process of its own, killed (with its JVM) at a step."""

from __future__ import annotations

import pytest

from spark_etl.local.datagen import DataSpec, generate
from tests.helpers import job_config, kill_at, query, run_job, write_csv
from tests.integration.conftest import PENDING, lake_rows, open_lake, pg_rows

pytestmark = [pytest.mark.integration, pytest.mark.lake]

# Runs a job, killing its whole process group (Python and Spark's JVM) at a step of the lake.
KILLER = """
import os, signal, sys
from spark_etl.cli import main as cli
from spark_etl.lake import write

def after(name):
    original = getattr(write, name)
    def wrapped(*args, **kwargs):
        result = original(*args, **kwargs)
        os.killpg(os.getpgid(0), signal.SIGKILL)
    setattr(write, name, wrapped)

step = sys.argv[1]
if step == "files-written":  # the Parquet files are written, no snapshot committed yet
    after("write_files")
elif step == "committed":  # the snapshot is committed, its pending ranges not cleared yet
    after("rewrite")
sys.exit(cli.main(sys.argv[2], sys.argv[3:]))
"""


def test_a_load_killed_during_its_lake_write_leaves_one_copy_of_every_row_after_the_next(
    spark, lake_settings, connection, tmp_path
):
    settings = lake_settings
    generate(tmp_path / "in", DataSpec(400, 30, 12, seed=5))
    run_job(spark, settings, connection, tmp_path / "in")
    catalog = open_lake(connection, settings)
    cart = catalog.load_table(("spark_etl", "cart"))
    assert len(cart.snapshots()) == 1
    ((cart_id, product_id, customer_id, quantity, created_at),) = query(
        connection,
        settings,
        "SELECT cart_id::text, product_id::text, customer_id::text, quantity, created_at "
        "FROM cart WHERE deleted_at IS NULL ORDER BY cart_id LIMIT 1",
    )
    line = (
        cart_id,
        product_id,
        customer_id,
        str(quantity + 1),
        f"{created_at:%Y-%m-%d %H:%M:%S}",
        "",
    )
    write_csv(tmp_path / "delta", "carts", [line])
    config = job_config(tmp_path, settings)
    config.write_text(
        config.read_text(encoding="utf-8") + f"lake:\n  warehouse: {settings.lake.warehouse}\n",
        encoding="utf-8",
    )
    load = ["cart_data_transform", "--input-dir", str(tmp_path / "delta"), "--config", str(config)]
    month = created_at.date().replace(day=1)

    # killed with the files written: PostgreSQL has the load, the lake its previous snapshot
    kill_at(KILLER, "files-written", [*load, "--no-refresh"], connection, settings, tmp_path)
    assert query(connection, settings, "SELECT quantity FROM cart WHERE cart_id = %s", cart_id) == [
        (quantity + 1,)
    ]
    (killed,) = query(
        connection,
        settings,
        "SELECT CAST(run_id AS text) FROM etl_run WHERE job = 'cart_data_transform' "
        "ORDER BY started_at DESC LIMIT 1",
    )
    assert query(connection, settings, PENDING) == [("cart", month, killed[0])]
    cart = catalog.load_table(("spark_etl", "cart"))
    assert len(cart.snapshots()) == 1
    assert (cart_id_row := [r for r in lake_rows(cart) if str(r[0]) == cart_id])
    assert cart_id_row[0][4] == quantity  # the lake still has the old quantity

    # the same input again: PostgreSQL changes nothing, the lake commits what was pending,
    # and the process is killed before it clears the pending range
    kill_at(KILLER, "committed", [*load, "--no-refresh"], connection, settings, tmp_path)
    cart = catalog.load_table(("spark_etl", "cart"))
    assert len(cart.snapshots()) == 2
    assert lake_rows(cart) == pg_rows(connection, settings, cart, "cart")
    assert query(connection, settings, PENDING) == [("cart", month, killed[0])]

    # the next run writes the pending month again, as one copy, and clears it
    (last,) = run_job(spark, settings, connection, tmp_path / "delta", "cart_data_transform")
    cart = catalog.load_table(("spark_etl", "cart"))
    assert len(cart.snapshots()) == 3
    assert cart.current_snapshot().summary["etl_run"] == last
    assert lake_rows(cart) == pg_rows(connection, settings, cart, "cart")
    assert query(connection, settings, PENDING) == []
    in_use = [task.file.file_path for task in cart.scan().plan_files()]
    assert not [path for path in in_use if f"/data/{killed[0]}/" in path]  # no killed run's files
    for name in ("customer", "product", "product_variation"):
        table = catalog.load_table(("spark_etl", name))
        assert lake_rows(table) == pg_rows(connection, settings, table, name), name
