"""The order of a refresh: which materialized views read which (as PostgreSQL's dependencies
record it), and a pool of workers running them, each after everything it reads."""

from __future__ import annotations

import concurrent.futures
import functools
import graphlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from spark_etl.analytics.kept import KEPT, KEPT_TABLES
from spark_etl.analytics.summaries import SUMMARIES, SUMMARY_TABLES
from spark_etl.db.postgres import quoted

# What each view, materialized view and SQL-standard (BEGIN ATOMIC) function of a schema reads,
# as PostgreSQL records it: a view's rewrite rule, or a function, depends on a relation or a
# function. Nodes are (catalog, oid): pg_class and pg_proc oids may coincide.
DEPENDENCIES = """
SELECT DISTINCT
       CASE WHEN d.classid = 'pg_rewrite'::regclass THEN 'pg_class'::regclass::oid
            ELSE d.classid END AS catalog,
       COALESCE(r.ev_class, d.objid) AS oid,
       d.refclassid AS ref_catalog, d.refobjid AS ref_oid
FROM pg_depend d
LEFT JOIN pg_rewrite r ON d.classid = 'pg_rewrite'::regclass AND r.oid = d.objid
LEFT JOIN pg_class rc ON rc.oid = r.ev_class
LEFT JOIN pg_proc p ON d.classid = 'pg_proc'::regclass AND p.oid = d.objid
WHERE d.deptype = 'n'
  AND d.refclassid IN ('pg_class'::regclass, 'pg_proc'::regclass)
  AND COALESCE(rc.relnamespace, p.pronamespace) = to_regnamespace(%(schema)s)
  AND COALESCE(r.ev_class, d.objid) <> d.refobjid
"""
RELATIONS = """
SELECT c.oid, c.relname AS name, c.relkind AS kind, c.relispopulated AS populated
FROM pg_class c
WHERE c.relnamespace = to_regnamespace(%(schema)s)
  AND (c.relkind IN ('m', 'v') OR c.relname = ANY(%(summaries)s))
"""
TWINS = ("__a", "__b")  # the two materialized views storing a view (views/store_twice.sql)


def refresh_order(conn: Any, analytics_schema: str) -> list[dict[str, Any]]:
    """The materialized views of the schema, each after every one it reads (directly, or through
    views and functions), ties by name: the order PostgreSQL's dependencies give. Each is named
    as its readers know it (the plain view), with the twin it reads now (``current``, and
    whether that one is ``populated``), the other (``idle``) and what it ``reads``: views, and
    SUMMARIES when it reads a table summarize_cart() keeps, a kept answer's name when it reads
    its tables (``kept.py``)."""
    with conn.cursor() as cur:
        cur.execute(
            RELATIONS,
            {
                "schema": quoted(analytics_schema),
                "summaries": [*SUMMARY_TABLES, *KEPT_TABLES],
            },
        )
        relations = {row["oid"]: row for row in cur.fetchall()}
        cur.execute(DEPENDENCIES, {"schema": quoted(analytics_schema)})
        edges = cur.fetchall()
        cur.execute("SELECT 'pg_class'::regclass::oid AS oid")
        class_catalog = cur.fetchone()["oid"]
    reads: dict[tuple[int, int], set[tuple[int, int]]] = {}
    for edge in edges:
        node = (edge["catalog"], edge["oid"])
        reads.setdefault(node, set()).add((edge["ref_catalog"], edge["ref_oid"]))
    # twin oid -> the view's name (a twin's name is the view's with a suffix)
    stored = {
        oid: row["name"][: -len(TWINS[0])]
        for oid, row in relations.items()
        if row["kind"] == "m" and row["name"].endswith(TWINS)
    }
    views = {row["name"]: row for row in relations.values() if row["name"] in stored.values()}
    summaries = {oid for oid, row in relations.items() if row["name"] in SUMMARY_TABLES}
    kept = {
        oid: KEPT_TABLES[row["name"]]
        for oid, row in relations.items()
        if row["name"] in KEPT_TABLES
    }
    lone = sorted(
        row["name"] for oid, row in relations.items() if row["kind"] == "m" and oid not in stored
    )
    if lone:  # a view's file forgot its CALL store_twice(...): it would never be refreshed
        raise RuntimeError(f"materialized views not stored twice: {', '.join(lone)}")

    def views_read(node: tuple[int, int], seen: set[tuple[int, int]]) -> set[str]:
        found = set()
        for ref in reads.get(node, ()):
            if ref in seen:
                continue
            seen.add(ref)
            if ref[0] == class_catalog and ref[1] in stored:
                found.add(stored[ref[1]])  # a twin: stop here, it is refreshed itself
            elif ref[0] == class_catalog and ref[1] in summaries:
                found.add(SUMMARIES)  # a table summarize_cart() keeps
            elif ref[0] == class_catalog and ref[1] in kept:
                found.add(kept[ref[1]])  # a table a kept answer's step writes
            else:
                found |= views_read(ref, seen)
        return found

    graph: dict[str, set[str]] = {name: set() for name in views}
    current: dict[str, dict[str, Any]] = {}
    for oid, name in stored.items():
        graph[name] |= views_read((class_catalog, oid), set())
    for name, view in views.items():
        for ref in reads.get((class_catalog, view["oid"]), ()):
            if ref[0] == class_catalog and ref[1] in stored:
                current[name] = relations[ref[1]]
    sorter = graphlib.TopologicalSorter(graph)
    sorter.prepare()
    ordered = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready())
        for name in ready:
            if name == SUMMARIES or name in KEPT:  # steps of refresh() itself, not views
                continue
            now = current[name]["name"]
            idle = name + (TWINS[1] if now.endswith(TWINS[0]) else TWINS[0])
            ordered.append(
                {
                    "name": name,
                    "current": now,
                    "populated": current[name]["populated"],
                    "idle": idle,
                    "reads": sorted(graph[name]),
                }
            )
        sorter.done(*ready)
    return ordered


def run_in_dependency_order(
    reads: Mapping[str, Iterable[str]],
    run: Callable[[str, int], None],
    workers: int,
    seconds: Mapping[str, float] | None = None,
) -> None:
    """Call ``run(name, worker)`` for every name of ``reads`` (name -> the names it reads),
    each after every name it reads has returned, up to ``workers`` at once; ``worker`` (0 to
    workers - 1) is one no other running call has. Of the names ready, the one heading the
    longest chain of work starts first: its ``seconds`` (what each took last time; 0 when not
    known) plus the longest chain of the names that read it; then the one that more names
    wait for (directly or not), then by name. The first exception stops starting new calls
    and is raised once the running ones return."""
    readers: dict[str, set[str]] = {}
    for name, inputs in reads.items():
        for read in inputs:
            readers.setdefault(read, set()).add(name)
    took = seconds or {}

    @functools.cache
    def waiting(name: str) -> frozenset[str]:
        found = set(readers.get(name, ()))
        for reader in readers.get(name, ()):
            found |= waiting(reader)
        return frozenset(found)

    @functools.cache
    def chain(name: str) -> float:
        return took.get(name, 0.0) + max((chain(r) for r in readers.get(name, ())), default=0.0)

    def first(name: str) -> tuple[float, int, str]:
        # (a view started late that others wait on, or a long one left for last, keeps a
        # connection busy while the other idles: a 10M nightly's refresh, replayed with its
        # steps' times on two connections, took 45.3 s in this order and 48.1 s by waiters)
        return -chain(name), -len(waiting(name)), name

    sorter = graphlib.TopologicalSorter(reads)
    sorter.prepare()
    ready: list[str] = []
    free = list(range(workers))
    running: dict[concurrent.futures.Future[None], tuple[str, int]] = {}
    failure: BaseException | None = None
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        while sorter.is_active() or running:
            ready = sorted([*ready, *sorter.get_ready()], key=first)
            while ready and free and failure is None:
                name, worker = ready.pop(0), free.pop(0)
                running[pool.submit(run, name, worker)] = (name, worker)
            if not running:
                break
            finished, _ = concurrent.futures.wait(
                running, return_when=concurrent.futures.FIRST_COMPLETED
            )
            for future in finished:
                name, worker = running.pop(future)
                free.append(worker)
                if future.exception() is not None:
                    failure = failure or future.exception()
                else:
                    sorter.done(name)
    if failure is not None:
        raise failure
