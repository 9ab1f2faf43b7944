"""Entity definitions: the built-in YAML files of this package, plus a user's folder.

``load_entities`` reads and checks every definition before Spark starts: each file on its own
(unknown keys, types, rules), then the set as a whole (references, tables, named transforms,
the load order, which must have no cycle). Errors name the file, the key path and the value.
"""

from __future__ import annotations

import difflib
import graphlib
from collections.abc import Iterable
from collections.abc import Mapping as MappingOf
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from spark_etl.config import QualitySettings, read_yaml
from spark_etl.definitions.mapping import Mapping
from spark_etl.definitions.messages import describe
from spark_etl.definitions.model import ICEBERG, STAGE_ATTEMPT, Entity, HistoryMerge
from spark_etl.definitions.transforms import BUILT_IN_TRANSFORMS, TransformSignature
from spark_etl.errors import ConfigError

__all__ = ["Entity", "Mapping", "Model", "load_entities", "load_mapping"]

BUILT_IN = "entities"  # the package folder of the built-in definitions
TIME_TYPES = ("timestamp without time zone", "date")


@dataclass(frozen=True)
class Model:
    """Every entity, in load order (an entity after the ones it references)."""

    entities: tuple[Entity, ...]
    files: dict[str, str]  # entity -> the file it came from, for messages

    def entity(self, name: str) -> Entity:
        return next(entity for entity in self.entities if entity.entity == name)

    def entity_named(self, name: str) -> Entity:
        """The entity ``name``; an unknown name is an error listing the defined ones."""
        if all(entity.entity != name for entity in self.entities):
            known = ", ".join(entity.entity for entity in self.entities)
            raise ConfigError(f"No entity '{name}' is defined; choose one of: {known}.")
        return self.entity(name)

    @property
    def jobs(self) -> dict[str, tuple[Entity, ...]]:
        """Job name -> the entities it loads: one job per entity, and ``all``."""
        jobs = {entity.job_name: (entity,) for entity in self.entities}
        return {**jobs, "all": self.entities}

    def job_named(self, name: str, choices: list[str] | None = None) -> str:
        """The job ``name`` (or the job of the entity ``name``); an unknown name is an error
        listing ``choices`` (default: the load jobs)."""
        if name in self.jobs:
            return name
        entity = next((entity for entity in self.entities if entity.entity == name), None)
        if entity is not None:
            return entity.job_name
        known = ", ".join(choices if choices is not None else self.jobs)
        raise ConfigError(f"Unknown job '{name}'; choose one of: {known}.")

    def with_dependencies(self, entities: tuple[Entity, ...]) -> tuple[Entity, ...]:
        """``entities`` and every entity they reference, directly or not, in load order."""
        wanted = {entity.entity for entity in entities}
        for entity in reversed(self.entities):
            if entity.entity in wanted:
                wanted.update(reference.entity for reference in entity.references)
        return tuple(entity for entity in self.entities if entity.entity in wanted)

    def referenced(self, entity: Entity, column: str) -> Entity:
        """The entity ``column`` of ``entity`` references."""
        return self.entity(next(r.entity for r in entity.references if r.column == column))

    def owner_of(self, table: str) -> Entity | None:
        """The entity whose main or history table is ``table``."""
        for entity in self.entities:
            history = entity.merge.table if isinstance(entity.merge, HistoryMerge) else None
            if table in (entity.table.name, history):
                return entity
        return None


def _yaml_files(folder: Path | Any) -> list[Any]:
    return sorted(
        (item for item in folder.iterdir() if item.name.endswith((".yaml", ".yml"))),
        key=lambda item: item.name,
    )


def _read(path: Any, shape: str = "a mapping with an 'entity' key") -> dict[str, Any]:
    data = read_yaml(path, str(path))
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold {shape}.")
    return data


def parse_entity(path: Any) -> Entity:
    """One definition file, checked on its own."""
    try:
        return Entity.model_validate(_read(path))
    except ValidationError as exc:
        problems = "; ".join(describe(error) for error in exc.errors())
        raise ConfigError(f"Entity definition {path} is invalid: {problems}.") from None


def _filled_columns(entity: Entity) -> list[str]:
    """The model columns the source rules fill, in source order."""
    return [column.to or name for name, column in entity.source.columns.items()]


def _check_entity(
    entity: Entity,
    known: dict[str, Entity],
    tables: set[str],
    transforms: MappingOf[str, TransformSignature],
) -> list[str]:
    """What is wrong with one definition among the others (key paths and values named)."""
    problems: list[str] = []
    columns = entity.columns

    def need(path: str, name: str) -> None:
        if name not in columns:
            close = difflib.get_close_matches(name, list(columns), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            problems.append(f"'{path}': '{name}' is not one of its columns{hint}")

    if STAGE_ATTEMPT in columns:
        problems.append(
            f"'columns.{STAGE_ATTEMPT}': the name is reserved (the staging table's record of "
            "the Spark task that wrote a row); name the column otherwise"
        )
    filled = _filled_columns(entity)
    for name, filled_name in zip(entity.source.columns, filled, strict=True):
        need(f"source.columns.{name}.to", filled_name)
    if len(set(filled)) < len(filled):
        problems.append("'source.columns': two source columns fill the same model column")
    need("key", entity.key)
    if entity.latest_by is not None:
        need("latest_by", entity.latest_by)
    for position, name in enumerate(entity.transforms):
        transform = transforms.get(name)
        if transform is None:
            problems.append(
                f"'transforms.{position}': no named transform '{name}'; "
                f"known: {', '.join(sorted(transforms))}"
            )
            continue
        for column in transform.needs:
            if column not in filled:
                problems.append(f"'transforms.{position}': {name} needs column '{column}' first")
        if transform.history_of is not None:
            target = next(
                (
                    known.get(r.entity)
                    for r in entity.references
                    if r.column == transform.history_of
                ),
                None,
            )
            if target is None or not isinstance(target.merge, HistoryMerge):
                problems.append(
                    f"'transforms.{position}': {name} needs '{transform.history_of}' to reference "
                    "an entity with a history merge"
                )
        for column in transform.makes:
            need(f"transforms.{position}", column)
        filled += [column for column in transform.makes if column not in filled]
    for name in columns:
        if name not in filled:
            problems.append(f"'columns.{name}': no source column or named transform fills it")
    for position, reference in enumerate(entity.references):
        need(f"references.{position}.column", reference.column)
        target = known.get(reference.entity)
        if target is None:
            problems.append(
                f"'references.{position}.entity': no entity '{reference.entity}' is defined"
            )
        elif reference.column in columns and target.key in target.columns:
            theirs = target.columns[target.key].type
            if columns[reference.column].type != theirs:
                problems.append(
                    f"'references.{position}': {reference.column} is "
                    f"{columns[reference.column].type} but {target.entity}.{target.key} is {theirs}"
                )
    parts = entity.table.partitioning
    if parts is not None:
        need("table.partitioning.range", parts.range)
        if parts.range in columns and columns[parts.range].type not in TIME_TYPES:
            problems.append("'table.partitioning.range': needs a timestamp or date column")
        if parts.hash is not None:
            need("table.partitioning.hash.column", parts.hash.column)
    kept = entity.retention.months if entity.retention else None
    if kept is not None and (parts is None or parts.interval != "month"):
        problems.append("'retention.months': needs table.partitioning with interval: month")
    for position, index in enumerate(entity.table.indexes):
        for name in index.columns:
            if name not in entity.table_columns:
                problems.append(
                    f"'table.indexes.{position}': '{name}' is not in table {entity.table.name}"
                )
    declared = {
        index.name or "_".join((entity.table.name, *index.columns, "idx"))
        for index in entity.table.indexes
    }
    problems += [
        f"'table.dropped_indexes.{position}': '{name}' is declared in table.indexes"
        for position, name in enumerate(entity.table.dropped_indexes)
        if name in declared
    ]
    for position, key in enumerate(entity.table.foreign_keys):
        need(f"table.foreign_keys.{position}.column", key.column)
        if key.table not in tables:
            problems.append(
                f"'table.foreign_keys.{position}.table': no entity defines table '{key.table}'"
            )
    if isinstance(entity.merge, HistoryMerge):
        for name in entity.merge.columns:
            need("merge.columns", name)
        if entity.merge.valid_from is not None:
            need("merge.valid_from", entity.merge.valid_from)
        if entity.key in entity.merge.columns:
            problems.append("'merge.columns': the key cannot be a history column")
        for position, index in enumerate(entity.merge.indexes):
            for name in index.columns:
                if name not in entity.merge.columns:
                    problems.append(f"'merge.indexes.{position}': '{name}' is not a history column")
    key_type = columns[entity.key].type if entity.key in columns else None
    if entity.flags and key_type not in (None, "bigint", "integer", "smallint"):
        problems.append(
            f"'flags': a flag records the row's key as a bigint (etl_flag.record_id); "
            f"the key {entity.key} is {key_type}"
        )
    referenced = {reference.entity for reference in entity.references}
    for position, flag in enumerate(entity.flags):
        for field in ("column", "shared"):
            if getattr(flag, field) is not None:
                need(f"flags.{position}.{field}", getattr(flag, field))
        if flag.before is not None:
            other, _, name = flag.before.rpartition(".")
            if not other:
                need(f"flags.{position}.before", name)
            elif other not in referenced:
                problems.append(
                    f"'flags.{position}.before': {entity.entity} does not reference '{other}'"
                )
            elif name not in known[other].columns:
                problems.append(f"'flags.{position}.before': {other} has no column '{name}'")
    return problems


def check_ranges(model: Model, known: Iterable[str]) -> None:
    """Every ``range`` a definition names is one of the settings' ranges (``known``)."""
    names = sorted(known)
    for entity in model.entities:
        for column, rule in entity.source.columns.items():
            name = getattr(rule, "range", None)
            if name is not None and name not in names:
                raise ConfigError(
                    f"Entity definition {model.files[entity.entity]} is invalid: "
                    f"'source.columns.{column}.range': no range '{name}' in the settings "
                    f"(validation.ranges); known: {', '.join(names)}."
                )


def check_quality(model: Model, quality: QualitySettings) -> None:
    """Every entity the quality settings name is defined, and each entity's gates, its
    definition's and the settings' together, warn before they fail."""
    names = sorted(entity.entity for entity in model.entities)
    for name in quality.entities:
        if name not in names:
            raise ConfigError(
                f"Setting quality.{name}: no entity '{name}' is defined; known: {', '.join(names)}."
            )
    for entity in model.entities:
        problem = entity.gates(quality).misordered()
        if problem:
            raise ConfigError(
                f"Quality gates of {entity.entity} (quality.{entity.entity} over its definition "
                f"{model.files[entity.entity]}): {problem}."
            )


def check_targets(model: Model, lake_set: bool) -> None:
    """An entity listing the ``iceberg`` target needs a lake (``lake_set``: lake.warehouse)."""
    if lake_set:
        return
    for entity in model.entities:
        if ICEBERG in (entity.targets or ()):
            raise ConfigError(
                f"Entity definition {model.files[entity.entity]}: 'targets' lists iceberg, but "
                "no lake is set; set lake.warehouse (or SPARK_ETL_LAKE_WAREHOUSE), or remove "
                "iceberg from its targets."
            )


def load_mapping(path: Path, model: Model) -> Mapping:
    """A mapping template, checked against the entities it maps onto."""
    if not path.is_file():
        raise ConfigError(f"Mapping template {path} does not exist; check --mapping.")
    try:
        mapping = Mapping.model_validate(_read(path, "a mapping with an 'entities' key"))
    except ValidationError as exc:
        errors = exc.errors()
        # a column given as a mapping fails the plain-text branch too: report the mapping's error
        branches = {tuple(e["loc"][:-2]) for e in errors if e["type"] != "string_type"}
        described = "; ".join(
            describe(error, Mapping)
            for error in errors
            if not (error["type"] == "string_type" and tuple(error["loc"][:-1]) in branches)
        )
        raise ConfigError(f"Mapping template {path} is invalid: {described}.") from None
    problems = []
    names = [entity.entity for entity in model.entities]
    for name, entity_mapping in mapping.entities.items():
        if name not in names:
            close = difflib.get_close_matches(name, names, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            problems.append(f"'entities.{name}': no entity '{name}' is defined{hint}")
            continue
        columns = list(model.entity(name).source.columns)
        for column in entity_mapping.columns:
            if column not in columns:
                close = difflib.get_close_matches(column, columns, n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                problems.append(
                    f"'entities.{name}.columns.{column}': not a source column of {name}{hint}"
                )
    if problems:
        raise ConfigError(f"Mapping template {path} is invalid: {'; '.join(problems)}.")
    return mapping


def _load_order(entities: dict[str, Entity], files: dict[str, str]) -> tuple[Entity, ...]:
    """Entities after the ones they reference; among the ready ones, by name."""
    graph = {
        name: {r.entity for r in e.references if r.entity != name} for name, e in entities.items()
    }
    sorter = graphlib.TopologicalSorter(graph)
    try:
        sorter.prepare()
    except graphlib.CycleError as exc:
        cycle = " -> ".join(exc.args[1])
        raise ConfigError(
            f"Entity definitions reference each other in a cycle ({cycle}); "
            "a load order needs one of these references removed."
        ) from None
    order: list[Entity] = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready())
        order += [entities[name] for name in ready]
        sorter.done(*ready)
    return tuple(order)


def load_entities(
    folder: Path | None = None, transforms: MappingOf[str, TransformSignature] | None = None
) -> Model:
    """The built-in definitions, plus (replacing a built-in of the same name) those in
    ``folder``; checked one by one, then as a set, against the named ``transforms`` (default:
    the built-in ones)."""
    transforms = BUILT_IN_TRANSFORMS if transforms is None else transforms
    sources: list[Any] = _yaml_files(resources.files("spark_etl.definitions").joinpath(BUILT_IN))
    if folder is not None:
        if not folder.is_dir():
            raise ConfigError(f"Entity folder {folder} does not exist; check --entities.")
        sources += _yaml_files(folder)
    entities: dict[str, Entity] = {}
    files: dict[str, str] = {}
    for path in sources:
        entity = parse_entity(path)
        entities[entity.entity] = entity  # a user's file replaces the built-in of that name
        files[entity.entity] = str(path)
    tables: dict[str, str] = {}
    jobs: dict[str, str] = {}
    for entity in entities.values():
        history = entity.merge.table if isinstance(entity.merge, HistoryMerge) else None
        for table in (entity.table.name, history, entity.stage_table):
            if table is not None and tables.setdefault(table, entity.entity) != entity.entity:
                raise ConfigError(
                    f"Entity definition {files[entity.entity]}: table '{table}' is also "
                    f"{tables[table]}'s ({files[tables[table]]}); give it another name."
                )
        if jobs.setdefault(entity.job_name, entity.entity) != entity.entity:
            raise ConfigError(
                f"Entity definition {files[entity.entity]}: job '{entity.job_name}' is also "
                f"{jobs[entity.job_name]}'s; set another 'job'."
            )
    for name, entity in entities.items():
        problems = _check_entity(entity, entities, set(tables), transforms)
        if problems:
            raise ConfigError(f"Entity definition {files[name]} is invalid: {'; '.join(problems)}.")
    return Model(_load_order(entities, files), files)
