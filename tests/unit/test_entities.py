"""Entity definitions: the built-in ones, and one clear sentence for each mistake in a user's."""

from __future__ import annotations

from pathlib import Path

import pytest

from spark_etl import definitions
from spark_etl.cli import main as cli
from spark_etl.config import load_settings
from spark_etl.db.ddl import object_name, tables
from spark_etl.definitions import load_entities, load_mapping
from spark_etl.errors import ConfigError
from spark_etl.transforms import registry

SUPPLIER = """\
entity: supplier
source:
  file: suppliers
  columns:
    id: {rule: id, to: supplier_id}
    name: {rule: text}
key: supplier_id
columns:
  supplier_id: {type: bigint, nullable: false}
  name: {type: text, nullable: false}
table:
  name: supplier
merge:
  mode: upsert
"""


def folder_with(tmp_path: Path, **files: str) -> Path:
    for name, text in files.items():
        (tmp_path / f"{name}.yaml").write_text(text, encoding="utf-8")
    return tmp_path


def test_built_in_entities_load_in_the_order_their_references_give():
    model = load_entities()

    assert [entity.entity for entity in model.entities] == ["customer", "product", "cart"]
    assert list(model.jobs) == [
        "customer_data_transform",
        "product_data_transform",
        "cart_data_transform",
        "all",
    ]
    cart = model.entity("cart")
    assert [e.entity for e in model.with_dependencies((cart,))] == ["customer", "product", "cart"]
    assert cart.primary_key == ("cart_id", "created_at", "customer_id")
    assert model.entity("product").table_columns == ("product_id", "name", "sku", "created_at")


def test_history_merge_makes_a_versioned_table_with_a_current_row_index():
    model = load_entities()

    main, history, stage = tables(model.entity("product"), model)

    assert (main.name, history.name, stage.name) == (
        "product",
        "product_variation",
        "stage_product",
    )
    assert [c.name for c in history.columns] == [
        "product_variation_id",
        "product_id",
        "variation",
        "full_sku",
        "price",
        "valid_from",
        "valid_to",
        "is_current",
    ]
    assert [(i.name, i.columns, i.unique, i.where) for i in history.indexes] == [
        ("product_variation_current_uidx", ("product_id",), True, "is_current"),
        ("product_variation_product_idx", ("product_id", "valid_from"), False, None),
        ("product_variation_full_sku_idx", ("full_sku",), False, None),
    ]
    assert stage.unlogged and all(c.nullable for c in stage.columns)


def test_a_user_entity_joins_the_built_in_ones(tmp_path):
    model = load_entities(folder_with(tmp_path, supplier=SUPPLIER))

    assert [entity.entity for entity in model.entities] == [
        "customer",
        "product",
        "supplier",
        "cart",
    ]
    assert "supplier_data_transform" in model.jobs


def test_unknown_key_is_named_with_the_nearest_valid_one(tmp_path):
    folder = folder_with(
        tmp_path, supplier=SUPPLIER.replace("{rule: text}", "{rule: text, requried: false}")
    )

    with pytest.raises(ConfigError) as error:
        load_entities(folder)

    assert str(error.value) == (
        f"Entity definition {folder / 'supplier.yaml'} is invalid: unknown key "
        "'source.columns.name.requried' (did you mean 'required'?)."
    )


def test_unsupported_type_and_unknown_rule_are_named(tmp_path):
    text = SUPPLIER.replace("{type: text, nullable: false}", "{type: string}").replace(
        "{rule: text}", "{rule: words}"
    )

    with pytest.raises(ConfigError) as error:
        load_entities(folder_with(tmp_path, supplier=text))

    message = str(error.value)
    assert "'source.columns.name': Input tag 'words' found using 'rule' does not match" in message
    assert "'columns.name.type': type 'string' is not supported; use one of: bigint," in message


def test_references_must_name_a_defined_entity_and_a_column(tmp_path):
    text = SUPPLIER + "references:\n  - {column: region_id, entity: region}\n"

    with pytest.raises(ConfigError) as error:
        load_entities(folder_with(tmp_path, supplier=text))

    assert str(error.value) == (
        f"Entity definition {tmp_path / 'supplier.yaml'} is invalid: "
        "'references.0.column': 'region_id' is not one of its columns; "
        "'references.0.entity': no entity 'region' is defined."
    )


def test_a_model_column_nothing_fills_is_refused(tmp_path):
    text = SUPPLIER.replace(
        "  name: {type: text, nullable: false}\n", "  name: {type: text}\n  city: {type: text}\n"
    )

    with pytest.raises(ConfigError) as error:
        load_entities(folder_with(tmp_path, supplier=text))

    assert str(error.value).endswith(
        "is invalid: 'columns.city': no source column or named transform fills it."
    )


def test_a_column_named_as_the_staging_tables_attempt_column_is_refused(tmp_path):
    text = SUPPLIER.replace(
        "    name: {rule: text}\n", "    name: {rule: text, to: stage_attempt}\n"
    )
    text = text.replace(
        "  name: {type: text, nullable: false}\n", "  stage_attempt: {type: text}\n"
    )

    with pytest.raises(ConfigError) as error:
        load_entities(folder_with(tmp_path, supplier=text))

    assert str(error.value).endswith(
        "is invalid: 'columns.stage_attempt': the name is reserved (the staging table's record "
        "of the Spark task that wrote a row); name the column otherwise."
    )


def test_entities_referencing_each_other_in_a_cycle_are_refused(tmp_path):
    region = (
        SUPPLIER.replace("supplier", "region")
        .replace(
            "  name: {type: text, nullable: false}\n",
            "  name: {type: text, nullable: false}\n  supplier_id: {type: bigint}\n",
        )
        .replace(
            "    name: {rule: text}\n",
            "    name: {rule: text}\n    supplier_id: {rule: id, required: false}\n",
        )
        + "references:\n  - {column: supplier_id, entity: supplier}\n"
    )
    supplier = (
        SUPPLIER.replace(
            "  name: {type: text, nullable: false}\n",
            "  name: {type: text, nullable: false}\n  region_id: {type: bigint}\n",
        ).replace(
            "    name: {rule: text}\n",
            "    name: {rule: text}\n    region_id: {rule: id, required: false}\n",
        )
        + "references:\n  - {column: region_id, entity: region}\n"
    )

    with pytest.raises(ConfigError) as error:
        load_entities(folder_with(tmp_path, supplier=supplier, region=region))

    assert str(error.value) in (
        f"Entity definitions reference each other in a cycle ({cycle}); a load order needs one "
        "of these references removed."
        for cycle in ("region -> supplier -> region", "supplier -> region -> supplier")
    )


def test_long_object_names_are_shortened_with_a_stable_hash():
    name = object_name("a" * 40, "b" * 30, "idx")

    assert len(name) == 63
    assert name == object_name("a" * 40, "b" * 30, "idx")
    assert name.startswith("a" * 40 + "_" + "b" * 13)


def test_flags_need_a_whole_number_key(tmp_path):
    text = (
        SUPPLIER.replace("{rule: id, to: supplier_id}", "{rule: text, to: supplier_id}").replace(
            "supplier_id: {type: bigint", "supplier_id: {type: text"
        )
        + "flags:\n  - {flag: named twice, shared: name}\n"
    )

    with pytest.raises(ConfigError) as error:
        load_entities(folder_with(tmp_path, supplier=text))

    assert str(error.value).endswith(
        "is invalid: 'flags': a flag records the row's key as a bigint (etl_flag.record_id); "
        "the key supplier_id is text."
    )


def test_a_mapping_template_naming_unknown_entities_or_columns_is_refused(tmp_path):
    template = tmp_path / "shop.yaml"
    template.write_text(
        "delimiter: ';'\n"
        "encodng: latin1\n"
        "entities:\n"
        "  custmer: {file: clients}\n"
        "  product:\n"
        "    columns: {prise: {expression: 'cents / 100'}}\n",
        encoding="utf-8",
    )

    with pytest.raises(ConfigError) as shape:
        load_mapping(template, load_entities())
    template.write_text(template.read_text().replace("encodng", "encoding"), encoding="utf-8")
    with pytest.raises(ConfigError) as names:
        load_mapping(template, load_entities())

    assert str(shape.value) == (
        f"Mapping template {template} is invalid: unknown key 'encodng' (did you mean 'encoding'?)."
    )
    assert str(names.value) == (
        f"Mapping template {template} is invalid: 'entities.custmer': no entity 'custmer' is "
        "defined (did you mean 'customer'?); 'entities.product.columns.prise': not a source "
        "column of product (did you mean 'price'?)."
    )


USER_TRANSFORMS = """
from pyspark.sql import functions as F

from spark_etl.definitions.transforms import TransformSignature
from spark_etl.transforms.registry import register


@register("name_in_capitals", TransformSignature(needs=("name",), makes=("shout",)))
def with_name_in_capitals(customers):
    return customers.withColumn("shout", F.upper("name"))
"""


def test_a_named_transform_of_a_users_module_is_registered_through_the_settings(
    tmp_path, monkeypatch, spark
):
    (tmp_path / "shop_transforms.py").write_text(USER_TRANSFORMS, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    folder = tmp_path / "entities"
    folder.mkdir()
    definition = (Path(definitions.__file__).parent / "entities" / "customer.yaml").read_text(
        encoding="utf-8"
    )
    definition = definition.replace(
        "table:\n",
        "  shout: {type: text, nullable: false}\ntransforms: [name_in_capitals]\ntable:\n",
    )
    (folder / "customer.yaml").write_text(definition, encoding="utf-8")
    config = tmp_path / "etl.yaml"
    config.write_text(
        f"entities:\n  folder: {folder}\n  transform_modules: [shop_transforms]\n", encoding="utf-8"
    )
    with pytest.raises(ConfigError, match="no named transform 'name_in_capitals'"):
        load_entities(folder)  # the built-in transforms only

    model = cli.entity_model(load_settings(config), None)

    customer = model.entity("customer")
    assert customer.transforms == ("name_in_capitals",)
    frame = spark.createDataFrame([("Ada",)], "name string")
    shouted = registry.TRANSFORMS["name_in_capitals"].function(frame)
    assert [row.shout for row in shouted.collect()] == ["ADA"]


def test_a_range_the_settings_do_not_name_is_refused_when_the_settings_load(tmp_path):
    folder = tmp_path / "entities"
    folder.mkdir()
    definition = (Path(definitions.__file__).parent / "entities" / "cart.yaml").read_text(
        encoding="utf-8"
    )
    (folder / "cart.yaml").write_text(
        definition.replace("range: quantity}", "range: basket}"), encoding="utf-8"
    )
    config = tmp_path / "etl.yaml"
    config.write_text("validation:\n  ranges:\n    basket: {min: 1, max: 9}\n", encoding="utf-8")

    assert (
        cli.entity_model(load_settings(config), folder)
        .entity("cart")
        .source.columns["quantity"]
        .range
        == "basket"
    )
    with pytest.raises(ConfigError) as error:
        cli.entity_model(load_settings(), folder)
    assert str(error.value) == (
        f"Entity definition {folder / 'cart.yaml'} is invalid: 'source.columns.quantity.range': "
        "no range 'basket' in the settings (validation.ranges); known: price, quantity."
    )


def test_retention_months_need_monthly_partitions(tmp_path):
    definition = (Path(definitions.__file__).parent / "entities" / "customer.yaml").read_text(
        encoding="utf-8"
    )
    (tmp_path / "customer.yaml").write_text(
        definition + "retention: {months: 12}\n", encoding="utf-8"
    )

    with pytest.raises(ConfigError) as error:
        load_entities(tmp_path)

    assert str(error.value) == (
        f"Entity definition {tmp_path / 'customer.yaml'} is invalid: 'retention.months': needs "
        "table.partitioning with interval: month."
    )


def test_an_index_both_declared_and_dropped_is_refused(tmp_path):
    definition = (Path(definitions.__file__).parent / "entities" / "cart.yaml").read_text(
        encoding="utf-8"
    )
    (tmp_path / "cart.yaml").write_text(
        definition.replace(
            "dropped_indexes: [cart_product_variation_idx]",
            "dropped_indexes: [cart_product_variation_idx, cart_product_idx]",
        ),
        encoding="utf-8",
    )

    with pytest.raises(ConfigError) as error:
        load_entities(tmp_path)

    assert str(error.value) == (
        f"Entity definition {tmp_path / 'cart.yaml'} is invalid: 'table.dropped_indexes.1': "
        "'cart_product_idx' is declared in table.indexes."
    )


@pytest.mark.parametrize(
    ("targets", "problem"),
    [
        ("[postgresql, parquet]", "'targets.1': Input should be 'postgresql' or 'iceberg'"),
        (
            "[iceberg]",
            "'targets': postgresql is always a target (the lake is written from what PostgreSQL "
            "commits); list [postgresql] or [postgresql, iceberg]",
        ),
        ("[postgresql, postgresql]", "'targets': a target is listed twice"),
    ],
)
def test_an_unknown_or_impossible_target_is_named(tmp_path, targets, problem):
    folder = folder_with(tmp_path, supplier=f"{SUPPLIER}targets: {targets}\n")

    with pytest.raises(ConfigError) as error:
        load_entities(folder)

    assert str(error.value) == (
        f"Entity definition {folder / 'supplier.yaml'} is invalid: {problem}."
    )


def test_entities_go_to_the_lake_when_it_is_set_unless_their_targets_say_otherwise(tmp_path):
    folder = folder_with(tmp_path, supplier=f"{SUPPLIER}targets: [postgresql]\n")
    model = load_entities(folder)

    assert [e.entity for e in model.entities if e.to_lake(lake_set=True)] == [
        "customer",
        "product",
        "cart",
    ]
    assert [e.entity for e in model.entities if e.to_lake(lake_set=False)] == []


def test_the_iceberg_target_without_a_lake_is_refused_when_the_settings_load(tmp_path):
    folder = tmp_path / "entities"
    folder.mkdir()
    folder_with(folder, supplier=f"{SUPPLIER}targets: [postgresql, iceberg]\n")
    config = tmp_path / "etl.yaml"
    config.write_text(f"lake:\n  warehouse: {tmp_path / 'lake'}\n", encoding="utf-8")

    assert cli.entity_model(load_settings(config), folder).entity("supplier").to_lake(True)
    with pytest.raises(ConfigError) as error:
        cli.entity_model(load_settings(), folder)
    assert str(error.value) == (
        f"Entity definition {folder / 'supplier.yaml'}: 'targets' lists iceberg, but no lake "
        "is set; set lake.warehouse (or SPARK_ETL_LAKE_WAREHOUSE), or remove iceberg from its "
        "targets."
    )
