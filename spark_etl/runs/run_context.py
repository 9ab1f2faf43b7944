"""What one invocation of the loads is given (``RunContext``) and what one entity's load is
made of (``EntityJob``): plain values, built by the command line, the tests and the harness, and
run by ``pipeline``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

from spark_etl.config import Connection, Settings
from spark_etl.definitions import Entity, Mapping, Model, load_entities
from spark_etl.monitoring import lineage
from spark_etl.transforms.source import SourceSpec

SNAPSHOT = "snapshot"  # the kind of extract a load is given unless told otherwise


@dataclass(frozen=True)
class RunContext:
    """What one invocation loads, from where, into where, and as of when."""

    settings: Settings
    connection: Connection
    input_dir: str
    as_of: datetime
    model: Model = field(default_factory=load_entities)  # the built-in entities by default
    mapping: Mapping | None = None  # a template mapping another layout onto the entities
    mapping_file: str | None = None
    # OpenLineage events, when the client is configured (OPENLINEAGE_URL, openlineage.yml ...)
    lineage: lineage.Lineage = field(default_factory=lineage.Lineage.from_environment)
    extract: str | None = None  # --extract: snapshot or delta (default: each entity's setting)
    backfill: bool = False  # --as-of before the run started: not history for the gates
    refresh: bool = True  # --no-refresh: a later analytics job refreshes the views
    # when the invocation started (UTC, naive like every timestamp of the model)
    started_at: datetime = field(
        default_factory=lambda: datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)
    )


@dataclass(frozen=True)
class EntityJob:
    name: str
    entity: Entity
    source: SourceSpec
    key: str
    stage_table: str
    columns: tuple[str, ...]
    timestamp_formats: tuple[str, ...] | None = None  # a mapping template's own


def entity_job(entity: Entity, ctx: RunContext | None = None) -> EntityJob:
    """The load of one entity definition, through the run's mapping template if it maps it."""
    mapped = ctx.mapping.for_entity(entity.entity) if ctx and ctx.mapping else None
    return EntityJob(
        entity.job_name,
        entity,
        SourceSpec.of(entity, mapped, ctx.mapping_file if ctx else None),
        entity.key,
        entity.stage_table,
        tuple(entity.columns),
        mapped.timestamp_formats if mapped else None,
    )
