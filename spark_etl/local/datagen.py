"""Synthetic input sets: deterministic for a seed, any size, as messy as real extracts.

Rows are streamed to disk one at a time (memory stays flat whatever the size). Besides clean
rows the set holds the soft anomalies the jobs must load (removal before creation, lines older
than their product or customer, a full SKU on two product ids, one-decimal prices) and a
configurable fraction of broken rows the jobs must set aside.
"""

from __future__ import annotations

import bisect
import csv
import logging
import random
import string
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

log = logging.getLogger(__name__)

FIRST_DAY = datetime(2019, 1, 1)
LAST_DAY = datetime(2024, 12, 31, 23, 59, 59)
# Relative cart volume per month (Jan..Dec): a late-year peak and a summer dip.
MONTH_WEIGHTS = (0.8, 0.7, 0.85, 0.9, 0.95, 0.8, 0.75, 0.8, 0.95, 1.1, 1.5, 1.9)
SURNAMES = (
    "Müller",
    "Schmidt",
    "Schäfer",
    "Weiß",
    "Köhler",
    "Groß",
    "Jäger",
    "Bäcker",
    "Fuchs",
    "Günther",
    "Smith",
    "Johnson",
    "O'Brien",
    "Taylor",
    "Brown",
    "Wilson",
    "Evans",
    "Hughes",
)
COMPANY_FORMS = (
    "{a} GmbH",
    "{a} & {b} GmbH",
    "{a}, {b} & Co. KG",
    "{a} & Söhne",
    "{a} Bürobedarf AG",
    "{a} & Sons Ltd",
    "{a}, {b} and Partners",
    "{a} Trading, Inc.",
    "Gebrüder {a} oHG",
    "{a} Lösungen & Service",
    '"{a}" Handels GmbH',
)
PRODUCT_WORDS = (
    (
        "Kaffeemühle",
        "Teekanne",
        "Schreibtischlampe",
        "Bürostuhl",
        "Rucksack",
        "Garden hose",
        "Desk organiser",
        "Water bottle",
        "Notebook",
        "Umhängetasche",
        "Küchenwaage",
        "Headphones",
    ),
    ("Deluxe", "Öko", "Classic", "Premium", "Größe M", "Travel", "Pro", "Mini", "Family"),
)


@dataclass(frozen=True)
class DataSpec:
    """How much to generate, and how messy."""

    carts: int
    customers: int
    products: int
    seed: int = 42
    broken_fraction: float = 0.02
    # customers and products created at any time of the period rather than before it: their
    # earlier cart lines are soft anomalies the load flags (0.05 flags about 5% of the lines,
    # 1.0 about 60%, as in extracts where most lines predate their customer's record)
    late_fraction: float = 0.05

    @classmethod
    def scaled(
        cls, carts: int, seed: int = 42, broken_fraction: float = 0.02, late_fraction: float = 0.05
    ) -> DataSpec:
        """Customers and products in proportion to the cart lines (20 and 100 lines each)."""
        customers, products = max(10, carts // 20), max(10, carts // 100)
        return cls(carts, customers, products, seed, broken_fraction, late_fraction)


def _timestamp(rng: random.Random, start: datetime, end: datetime) -> datetime:
    seconds = int((end - start).total_seconds())
    return start + timedelta(seconds=rng.randint(0, seconds))


def _format_time(rng: random.Random, moment: datetime) -> str:
    """Both accepted formats: most with a time of day, some as a bare date."""
    return moment.strftime("%Y-%m-%d" if rng.random() < 0.2 else "%Y-%m-%d %H:%M:%S")


def _seasonal_timestamp(rng: random.Random) -> datetime:
    year = rng.randint(FIRST_DAY.year + 1, LAST_DAY.year)
    month = rng.choices(range(1, 13), weights=MONTH_WEIGHTS)[0]
    day = rng.randint(1, 28)
    return datetime(year, month, day, rng.randint(0, 23), rng.randint(0, 59), rng.randint(0, 59))


def _company(rng: random.Random) -> str:
    form = rng.choice(COMPANY_FORMS)
    return form.format(a=rng.choice(SURNAMES), b=rng.choice(SURNAMES))


def _price(rng: random.Random) -> str:
    cents = rng.randint(99, 99_999)
    if rng.random() < 0.1:  # one decimal digit, as some source systems write them
        return f"{cents // 100}.{cents % 100 // 10}"
    return f"{cents // 100}.{cents % 100:02d}"


def _broken(
    rng: random.Random, row: list[str], breakers: tuple[Callable[[list[str]], None], ...]
) -> list[str]:
    rng.choice(breakers)(row)
    return row


def _customers(rng: random.Random, spec: DataSpec) -> Iterator[list[str]]:
    breakers = (
        lambda r: r.__setitem__(0, f"C{r[0]}x"),
        lambda r: r.__setitem__(2, "31/12/2021"),
        lambda r: r.__setitem__(1, ""),
        lambda r: r.__setitem__(0, str(max(1, int(r[0]) - 1))),  # the id of the row before
    )
    for customer_id in range(1, spec.customers + 1):
        # Most customers exist before the first carts; a few arrive later (lines may predate them).
        late = rng.random() < spec.late_fraction
        created = _timestamp(rng, FIRST_DAY, LAST_DAY if late else datetime(2019, 12, 31))
        row = [str(customer_id), _company(rng), _format_time(rng, created)]
        yield _broken(rng, row, breakers) if rng.random() < spec.broken_fraction else row


def _families(rng: random.Random, count: int) -> list[str]:
    families: set[str] = set()
    while len(families) < count:
        families.add("".join(rng.choices(string.ascii_uppercase, k=rng.randint(3, 4))))
    return sorted(families)


def _products(rng: random.Random, spec: DataSpec) -> Iterator[list[str]]:
    families = _families(rng, max(1, spec.products // 5))
    breakers = (
        lambda r: r.__setitem__(0, "n/a"),
        lambda r: r.__setitem__(2, "12,99"),
        lambda r: r.__setitem__(4, "2021-02-30"),
        lambda r: r.__setitem__(0, str(max(1, int(r[0]) - 1))),  # the id of the row before
    )
    previous_sku = f"{families[0]}-001"
    for product_id in range(1, spec.products + 1):
        family = families[(product_id - 1) % len(families)]
        sku = f"{family}-{(product_id - 1) // len(families) + 1:03d}"
        if rng.random() < 0.01:  # the same full SKU on two product ids
            sku = previous_sku
        previous_sku = sku
        late = rng.random() < spec.late_fraction
        created = _timestamp(rng, FIRST_DAY, LAST_DAY if late else datetime(2019, 12, 31))
        words, adjectives = PRODUCT_WORDS
        name = f"{rng.choice(words)} {rng.choice(adjectives)}"
        if rng.random() < 0.3:
            name += f", {rng.randint(1, 12) * 50} g"
        row = [str(product_id), name, _price(rng), sku, _format_time(rng, created)]
        yield _broken(rng, row, breakers) if rng.random() < spec.broken_fraction else row


def _popularity(rng: random.Random, count: int) -> list[float]:
    """Cumulative weights with a long tail: a few products and customers dominate."""
    weights = [1.0 / (rank**0.8) for rank in range(1, count + 1)]
    rng.shuffle(weights)
    cumulative, total = [], 0.0
    for weight in weights:
        total += weight
        cumulative.append(total)
    return cumulative


def _pick(rng: random.Random, cumulative: list[float]) -> int:
    return bisect.bisect_left(cumulative, rng.random() * cumulative[-1]) + 1


def _carts(rng: random.Random, spec: DataSpec) -> Iterator[list[str]]:
    products = _popularity(rng, spec.products)
    customers = _popularity(rng, spec.customers)
    breakers = (
        lambda r: r.__setitem__(0, f"#{r[0]}"),
        lambda r: r.__setitem__(1, str(spec.products + 1000)),
        lambda r: r.__setitem__(2, str(spec.customers + 1000)),
        lambda r: r.__setitem__(3, rng.choice(("0", "-2"))),
        lambda r: r.__setitem__(4, "2022-13-01 10:00:00"),
        lambda r: r.__setitem__(0, str(max(1, int(r[0]) - 1))),  # the id of the line before
    )
    for cart_id in range(1, spec.carts + 1):
        created = _seasonal_timestamp(rng)
        deleted = ""
        removal = rng.random()
        if removal < 0.01:  # removed "before" it was created: clocks of two systems disagree
            deleted = (created - timedelta(hours=rng.randint(1, 48))).strftime("%Y-%m-%d %H:%M:%S")
        elif removal < 0.15:
            deleted = (created + timedelta(hours=rng.randint(1, 240))).strftime("%Y-%m-%d %H:%M:%S")
        row = [
            str(cart_id),
            str(_pick(rng, products)),
            str(_pick(rng, customers)),
            str(rng.choices((1, 2, 3, 4, 5, 10), weights=(50, 25, 10, 6, 5, 4))[0]),
            created.strftime("%Y-%m-%d %H:%M:%S"),
            deleted,
        ]
        yield _broken(rng, row, breakers) if rng.random() < spec.broken_fraction else row


def _write(path: Path, header: tuple[str, ...], rows: Iterator[list[str]]) -> int:
    count = 0
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
        writer.writerow(header)
        for row in rows:
            writer.writerow(row)
            count += 1
    return count


def generate(output_dir: Path, spec: DataSpec) -> dict[str, int]:
    """Write products.csv, customers.csv and carts.csv; return the rows written per file."""
    output_dir.mkdir(parents=True, exist_ok=True)
    written = {
        "customers.csv": _write(
            output_dir / "customers.csv",
            ("id", "name", "created_at"),
            _customers(random.Random(f"{spec.seed}-customers"), spec),
        ),
        "products.csv": _write(
            output_dir / "products.csv",
            ("id", "name", "price", "sku", "created_at"),
            _products(random.Random(f"{spec.seed}-products"), spec),
        ),
        "carts.csv": _write(
            output_dir / "carts.csv",
            ("id", "product_id", "customer_id", "quantity", "created_at", "delete_at"),
            _carts(random.Random(f"{spec.seed}-carts"), spec),
        ),
    }
    log.info("Generated %s in %s", written, output_dir)
    return written
