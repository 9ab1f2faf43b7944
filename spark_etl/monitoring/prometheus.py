"""A load's figures for Prometheus: a node-exporter textfile and a Pushgateway, one group per
job and entity (docs/operations.md, "Metrics").

A batch job is watched by the time since its last success, so a failed run updates only
``spark_etl_last_run_*``: the last success's figures stay, in the textfile (read back and
merged) and on the Pushgateway (a failure is pushed with POST, which replaces only the metrics
it names; a success with PUT, which replaces the whole group). Nothing here may fail a load:
``export`` logs one warning per target it could not reach.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import CollectorRegistry, Gauge, push_to_gateway, pushadd_to_gateway
from prometheus_client.exposition import write_to_textfile
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from spark_etl.config import MetricsSettings
from spark_etl.errors import ConfigError

try:  # POSIX: two loads ending at once must not lose each other's lines of the textfile
    import fcntl
except ImportError:  # Windows: one load at a time holds the load lock anyway
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

PREFIX = "spark_etl_"
LABELS = ("job", "entity")
# name -> help; the first group is written by every run, the second by successful ones only
EVERY_RUN = {
    "last_run_exit_code": "Exit code of the job's last run (0 done, 2 fix, 4 gate, 75 retry)",
    "last_run_timestamp_seconds": "When the job's last run ended (Unix time)",
    "last_run_duration_seconds": "Wall time of the job's last run",
}
ON_SUCCESS = {
    "last_success_timestamp_seconds": "When the job last loaded successfully (Unix time)",
    "last_success_duration_seconds": "Wall time of the last successful run",
    "rows_read": "Rows the last successful run read",
    "rows_loaded": "Rows the last successful run loaded into the model",
    "rows_set_aside": "Rows the last successful run set aside (rejects and duplicates)",
}
HELP = {**EVERY_RUN, **ON_SUCCESS}


@dataclass(frozen=True)
class JobFigures:
    """One entity job's outcome in an invocation."""

    job: str
    entity: str
    exit_code: int
    ended_at: float  # Unix time
    seconds: float
    succeeded: bool
    rows_read: int | None = None
    rows_loaded: int | None = None
    rows_set_aside: int | None = None

    def values(self) -> dict[str, float]:
        """The metrics (without prefix) this run sets: every run's, and a success's figures."""
        values = {
            "last_run_exit_code": float(self.exit_code),
            "last_run_timestamp_seconds": self.ended_at,
            "last_run_duration_seconds": self.seconds,
        }
        if self.succeeded:
            values.update(
                last_success_timestamp_seconds=self.ended_at,
                last_success_duration_seconds=self.seconds,
            )
            rows = {
                "rows_read": self.rows_read,
                "rows_loaded": self.rows_loaded,
                "rows_set_aside": self.rows_set_aside,
            }  # a load's; the analytics, retention and restore jobs have none
            values.update({name: float(value) for name, value in rows.items() if value is not None})
        return values


def check(settings: MetricsSettings) -> None:
    """The textfile's folder must exist (checked before Spark starts)."""
    if settings.textfile and not Path(settings.textfile).parent.is_dir():
        raise ConfigError(
            f"metrics.textfile {settings.textfile}: the folder "
            f"{Path(settings.textfile).parent} does not exist; create it (node-exporter's "
            "--collector.textfile.directory) or set another file."
        )


def export(settings: MetricsSettings, figures: Sequence[JobFigures]) -> None:
    """Write the textfile and push to the Pushgateway, as set; a target that fails is one
    warning line, never an error."""
    if not figures:
        return
    if settings.textfile:
        try:
            write_textfile(Path(settings.textfile), figures)
        except OSError as exc:
            log.warning(
                "metrics: could not write %s (%s); the load's result is unchanged",
                settings.textfile,
                exc.strerror or exc,
            )
    if settings.pushgateway_url:
        try:
            push(settings.pushgateway_url, figures, settings.timeout_seconds)
        except Exception as exc:  # URLError, HTTPError, timeouts: the load is done regardless
            log.warning(
                "metrics: could not push to %s (%s); the load's result is unchanged",
                settings.pushgateway_url,
                exc,
            )


def push(url: str, figures: Sequence[JobFigures], timeout: float) -> None:
    """One group per job and entity: a success replaces its group, a failure only its
    ``last_run_*`` metrics."""
    for one in figures:
        registry = CollectorRegistry()
        for name, value in one.values().items():
            Gauge(PREFIX + name, HELP[name], registry=registry).set(value)
        send = push_to_gateway if one.succeeded else pushadd_to_gateway
        send(
            url.rstrip("/"),
            job=one.job,
            registry=registry,
            grouping_key={"entity": one.entity},
            timeout=timeout,
        )


Series = dict[str, dict[tuple[str, str], float]]  # metric (no prefix) -> (job, entity) -> value


def read_textfile(path: Path) -> Series:
    """Our metrics in an existing textfile (a missing or foreign file reads as none)."""
    series: Series = {name: {} for name in HELP}
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return series
    for family in text_string_to_metric_families(text):
        name = family.name.removeprefix(PREFIX)
        if name not in series or not family.name.startswith(PREFIX):
            continue
        for sample in family.samples:
            labels = (sample.labels.get("job", ""), sample.labels.get("entity", ""))
            series[name][labels] = sample.value
    return series


def merged(series: Series, figures: Sequence[JobFigures]) -> Series:
    """``series`` with this invocation's values: a failure leaves a success's figures."""
    result = {name: dict(values) for name, values in series.items()}
    for one in figures:
        for name, value in one.values().items():
            result[name][(one.job, one.entity)] = value
    return result


class _Series(Collector):
    def __init__(self, series: Series) -> None:
        self.series = series

    def collect(self) -> Iterator[Metric]:
        for name, values in self.series.items():
            if not values:
                continue
            family = GaugeMetricFamily(PREFIX + name, HELP[name], labels=LABELS)
            for labels, value in sorted(values.items()):
                family.add_metric(labels, value)
            yield family


def write_textfile(path: Path, figures: Sequence[JobFigures]) -> None:
    """Merge this invocation into the textfile, atomically (node-exporter never reads half)."""
    with _locked(path.with_name(f".{path.name}.lock")):
        registry = CollectorRegistry()
        registry.register(_Series(merged(read_textfile(path), figures)))
        write_to_textfile(str(path), registry)


@contextmanager
def _locked(lock_file: Path) -> Iterator[None]:
    with open(lock_file, "a", encoding="utf-8") as handle:
        if fcntl is not None:
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def job_figures(
    planned: Mapping[str, str],
    runs: Sequence[Mapping[str, object]],
    exit_code: int,
    ended_at: float,
    seconds: float,
) -> list[JobFigures]:
    """Each planned job's figures (``planned``: job -> entity) from its run's audit row, as
    ``postgres.run_summaries`` gives them; a job that never started (the lock held, the
    database down, an earlier job failed) gets the invocation's exit code."""
    by_job = {str(run["job"]): run for run in runs}
    figures = []
    for job, entity in planned.items():
        run = by_job.get(job)
        if run is None:
            figures.append(JobFigures(job, entity, exit_code, ended_at, seconds, False))
            continue
        succeeded = run["status"] == "succeeded"
        # a committed load whose analytics refresh failed after it still says so (3)
        code = (exit_code if exit_code == 3 else 0) if succeeded else (exit_code or 1)
        figures.append(
            JobFigures(
                job,
                entity,
                code,
                _number(run.get("ended_epoch"), ended_at),
                _number(run.get("seconds"), seconds),
                succeeded,
                _whole(run.get("rows_read")),
                _whole(run.get("rows_loaded")),
                (_whole(run.get("rows_rejected")) or 0) + (_whole(run.get("rows_duplicate")) or 0),
            )
        )
    return figures


def _number(value: object, default: float) -> float:
    return default if value is None else float(value)  # type: ignore[arg-type]


def _whole(value: object) -> int | None:
    return None if value is None else int(value)  # type: ignore[call-overload]
