"""OpenLineage run events of every load: START, then COMPLETE or FAIL (docs/operations.md,
"Lineage").

Spark's own OpenLineage listener would not see what a load writes (COPY from the executors,
SQL merges), so the job sends its events itself: the files read (with their columns), the
model tables written (rows loaded), the rows set aside per reason and the quality gates'
verdicts. The run id of an event is the load's ``etl_run.run_id``.

Configured the OpenLineage client's own way (``OPENLINEAGE_URL``, ``OPENLINEAGE_CONFIG``, an
``openlineage.yml``, ``OPENLINEAGE__TRANSPORT__*``); off when none is set. A receiver that
fails is one warning line, after which the invocation sends nothing more: a load never fails
or waits on its lineage.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlparse

import attr
from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import (
    RunFacet,
    data_quality_assertions_dataset,
    data_quality_metrics_input_dataset,
    error_message_run,
    job_type_job,
    output_statistics_output_dataset,
    processing_engine_run,
    schema_dataset,
)

import spark_etl

log = logging.getLogger(__name__)

PRODUCER = f"https://pypi.org/project/spark-etl/{spark_etl.__version__}"
NAMESPACE_ENV = (
    "OPENLINEAGE_NAMESPACE"  # the jobs' namespace, as OpenLineage's integrations read it
)
DEFAULT_NAMESPACE = "spark_etl"


@attr.define
class LoadRunFacet(RunFacet):
    """Our own run facet: the audit row of the run and what it set aside, per reason."""

    auditTable: str  # camelCase: OpenLineage's facets are
    rowsRead: int | None = None
    rowsLoaded: int | None = None
    rowsSetAside: int | None = None
    rowsDuplicate: int | None = None
    setAsideByReason: dict[str, int] = attr.field(factory=dict)
    quality: str | None = None

    @staticmethod
    def _get_schema() -> str:
        return "https://spark-etl.invalid/spec/facets/1-0-0/LoadRunFacet.json"


@dataclass(frozen=True)
class Table:
    """A table the load writes: ``database.schema.table`` (in the PostgreSQL server's
    namespace), or an Iceberg table's location (in ``namespace``: ``file``); and its
    columns' SQL types."""

    name: str
    columns: Mapping[str, str]
    namespace: str | None = None  # None: the PostgreSQL server's


@dataclass
class Outcome:
    """What a load saw, filled in as it goes: the files read and its figures."""

    files: tuple[str, ...] = ()
    source_columns: tuple[str, ...] = ()
    counts: dict[str, int | None] = field(default_factory=dict)  # read, loaded, rejected, ...
    reasons: dict[str, int] = field(default_factory=dict)
    gates: list[tuple[str, bool, str]] = field(default_factory=list)  # gate, passed, sentence
    quality: str | None = None


class Lineage:
    """The events of one invocation; ``Lineage.from_environment()`` is off when unconfigured."""

    def __init__(self, client: OpenLineageClient | None, namespace: str = DEFAULT_NAMESPACE):
        self.client = client
        self.namespace = namespace

    @classmethod
    def from_environment(cls) -> Lineage:
        """The client as OpenLineage configures it, if a transport is set; else off."""
        if os.environ.get("OPENLINEAGE_DISABLED", "").strip().lower() == "true":
            return cls(None)
        quiet = logging.getLogger("openlineage.client.client")
        level = quiet.level
        quiet.setLevel(logging.ERROR)  # unconfigured, it warns that it will print to the console
        try:
            client = OpenLineageClient()
        finally:
            quiet.setLevel(level)
        configured = bool(client.config.transport and client.config.transport.get("type"))
        if not configured and not os.environ.get("OPENLINEAGE_URL"):
            return cls(None)  # the client would print every event on the console instead
        return cls(client, os.environ.get(NAMESPACE_ENV) or DEFAULT_NAMESPACE)

    @property
    def enabled(self) -> bool:
        return self.client is not None

    def start(self, run_id: str, job: str, server: str, tables: Sequence[Table]) -> None:
        self._emit(RunState.START, run_id, job, [], self._outputs(server, tables, None))

    def complete(
        self, run_id: str, job: str, server: str, tables: Sequence[Table], outcome: Outcome
    ) -> None:
        self._emit(
            RunState.COMPLETE,
            run_id,
            job,
            self._inputs(outcome),
            self._outputs(server, tables, outcome),
            self._facets(outcome),
        )

    def fail(
        self,
        run_id: str,
        job: str,
        server: str,
        tables: Sequence[Table],
        outcome: Outcome,
        error: str,
    ) -> None:
        facets: dict[str, RunFacet] = {
            **self._facets(outcome),
            "errorMessage": error_message_run.ErrorMessageRunFacet(
                message=error, programmingLanguage="python"
            ),
        }
        self._emit(
            RunState.FAIL,
            run_id,
            job,
            self._inputs(outcome),
            self._outputs(server, tables, None),
            facets,
        )

    def _facets(self, outcome: Outcome) -> dict[str, RunFacet]:
        counts = outcome.counts
        return {
            "spark_etl_load": LoadRunFacet(
                auditTable="etl_run",
                rowsRead=counts.get("read"),
                rowsLoaded=counts.get("loaded"),
                rowsSetAside=counts.get("rejected"),
                rowsDuplicate=counts.get("duplicate"),
                setAsideByReason=dict(outcome.reasons),
                quality=outcome.quality,
            )
        }

    def _inputs(self, outcome: Outcome) -> list[InputDataset]:
        fields = [
            schema_dataset.SchemaDatasetFacetFields(name=name, type="string", ordinal_position=i)
            for i, name in enumerate(outcome.source_columns, start=1)
        ]
        inputs = []
        for file in outcome.files:
            namespace, name = file_dataset(file)
            input_facets: dict[str, Any] = {}
            if len(outcome.files) == 1 and outcome.counts.get("read") is not None:
                input_facets["dataQualityMetrics"] = (
                    data_quality_metrics_input_dataset.DataQualityMetricsInputDatasetFacet(
                        columnMetrics={}, rowCount=outcome.counts["read"], fileCount=1
                    )
                )
            if outcome.gates:
                input_facets["dataQualityAssertions"] = (
                    data_quality_assertions_dataset.DataQualityAssertionsDatasetFacet(
                        assertions=[
                            data_quality_assertions_dataset.Assertion(
                                assertion=gate, success=passed, description=sentence or None
                            )
                            for gate, passed, sentence in outcome.gates
                        ]
                    )
                )
            inputs.append(
                InputDataset(
                    namespace=namespace,
                    name=name,
                    facets={"schema": schema_dataset.SchemaDatasetFacet(fields=fields)},
                    inputFacets=input_facets,
                )
            )
        return inputs

    def _outputs(
        self, server: str, tables: Sequence[Table], outcome: Outcome | None
    ) -> list[OutputDataset]:
        outputs = []
        for position, table in enumerate(tables):
            statistics: dict[str, Any] = {}
            rows = (outcome.counts.get("loaded") if position == 0 else None) if outcome else None
            if rows is not None:
                statistics["outputStatistics"] = (
                    output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
                        rowCount=rows
                    )
                )
            outputs.append(
                OutputDataset(
                    namespace=table.namespace or server,
                    name=table.name,
                    facets={
                        "schema": schema_dataset.SchemaDatasetFacet(
                            fields=[
                                schema_dataset.SchemaDatasetFacetFields(name=name, type=sql_type)
                                for name, sql_type in table.columns.items()
                            ]
                        )
                    },
                    outputFacets=statistics,
                )
            )
        return outputs

    def _emit(
        self,
        state: RunState,
        run_id: str,
        job: str,
        inputs: list[InputDataset],
        outputs: list[OutputDataset],
        facets: Mapping[str, RunFacet] | None = None,
    ) -> None:
        if self.client is None:
            return
        event = RunEvent(
            eventType=state,
            eventTime=datetime.now(timezone.utc).isoformat(),
            run=Run(
                runId=run_id,
                facets={
                    "processing_engine": processing_engine_run.ProcessingEngineRunFacet(
                        version=spark_etl.__version__, name="spark-etl"
                    ),
                    **(facets or {}),
                },
            ),
            job=Job(
                namespace=self.namespace,
                name=job,
                facets={
                    "jobType": job_type_job.JobTypeJobFacet(
                        processingType="BATCH", integration="SPARK_ETL", jobType="JOB"
                    )
                },
            ),
            inputs=inputs,
            outputs=outputs,
            producer=PRODUCER,
        )
        try:
            self.client.emit(event)
        except Exception as exc:  # a receiver down never fails (nor slows) the load
            log.warning(
                "lineage: could not send the %s event of %s (%s); no more events are sent by "
                "this run, whose result is unchanged",
                state.value,
                job,
                exc,
            )
            self.client = None


def file_dataset(uri: str) -> tuple[str, str]:
    """OpenLineage's naming of a file: namespace ``file`` (or scheme://authority), the path."""
    parts = urlparse(uri)
    if parts.scheme in ("", "file"):
        return "file", parts.path or uri
    return f"{parts.scheme}://{parts.netloc}", parts.path


def database_namespace(host: str, port: int) -> str:
    """OpenLineage's naming of a PostgreSQL server."""
    return f"postgres://{host}:{port}"
