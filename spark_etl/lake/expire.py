"""The lake kept from growing without end: each table's snapshots older than
``lake.keep_snapshots_days`` expired (never the current one), then the files under the table's
folder that no snapshot left uses removed: the data files the expired snapshots replaced, their
manifests, and what a killed run wrote but never committed. Old metadata files go at each
commit (the tables' ``write.metadata.delete-after-commit.enabled``)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse

from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.table import Table

from spark_etl.config import LakeSettings
from spark_etl.lake.schema import LakeTable
from spark_etl.lake.warehouse import warehouse_folder

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Expired:
    table: str
    expired: int  # snapshots expired
    kept: int  # snapshots left (the current one among them)
    removed: int  # files removed
    removed_bytes: int


def expire_tables(
    catalog: SqlCatalog, lake: LakeSettings, tables: Iterable[LakeTable], now: datetime
) -> list[Expired]:
    """Expire and clean every one of ``tables`` the lake has (the caller holds the load lock:
    no load writes files meanwhile). ``now`` is UTC, without zone."""
    cutoff = now - timedelta(days=lake.keep_snapshots_days)
    done = []
    for spec in tables:
        name = (lake.namespace, spec.name)
        if catalog.table_exists(name):
            done.append(_expire(catalog.load_table(name), spec.name, cutoff))
    return done


def _expire(table: Table, name: str, cutoff: datetime) -> Expired:
    current = table.current_snapshot()
    old = [
        snapshot.snapshot_id
        for snapshot in table.snapshots()
        if snapshot.timestamp_ms < _millis(cutoff)
        and (current is None or snapshot.snapshot_id != current.snapshot_id)
    ]
    if old:
        table.maintenance.expire_snapshots().by_ids(old).commit()
        table = table.refresh()
    unused = sorted(_files(table) - _used(table))
    removed_bytes = sum(path.stat().st_size for path in unused)
    for path in unused:
        path.unlink()
    _remove_empty_folders(warehouse_folder(table.location()) / "data")
    kept = len(table.snapshots())
    log.info(
        "Lake table %s: %d snapshots expired, %d kept; %d unused files removed (%d bytes)",
        name,
        len(old),
        kept,
        len(unused),
        removed_bytes,
    )
    return Expired(name, len(old), kept, len(unused), removed_bytes)


def _millis(moment: datetime) -> int:
    return round((moment - datetime(1970, 1, 1)).total_seconds() * 1000)


def _local(uri: str) -> Path:
    parsed = urlparse(uri)
    return Path(parsed.path if parsed.scheme == "file" else uri).resolve()


def _used(table: Table) -> set[Path]:
    """Every file a snapshot of ``table`` reads: its manifest list, its manifests, and the
    data files live in it."""
    used = set()
    for snapshot in table.snapshots():
        used.add(_local(snapshot.manifest_list))
        for manifest in snapshot.manifests(table.io):
            used.add(_local(manifest.manifest_path))
            for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=True):
                used.add(_local(entry.data_file.file_path))
    return used


def _files(table: Table) -> set[Path]:
    """The files a snapshot may use, under the table's folder: everything in ``data`` (Parquet,
    and the checksum and marker files Spark writes beside it) and the Avro manifests and
    manifest lists of ``metadata`` (not the metadata JSON files, which the catalog points at)."""
    folder = warehouse_folder(table.location())
    data = {path for path in (folder / "data").rglob("*") if path.is_file()}
    return data | set((folder / "metadata").glob("*.avro"))


def _remove_empty_folders(folder: Path) -> None:
    if not folder.is_dir():
        return
    for path in sorted(folder.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if path.is_dir() and not any(path.iterdir()):
            path.rmdir()
