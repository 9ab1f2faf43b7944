"""The harness's generated increments: the next night's new lines."""

from __future__ import annotations

from bench.run import nightly_input


def test_the_nightly_input_is_every_100th_line_new_and_dated_the_day_after_the_last(tmp_path):
    source = tmp_path / "input"
    source.mkdir()
    rows = [f"{i},{i % 7 + 1},{i % 5 + 1},{i % 3 + 1},2024-12-{i % 28 + 1:02d} 10:{i % 60:02d}:00,"
            for i in range(1, 251)]  # fmt: skip
    rows[100] = "x101,1,1,1,yesterday,"  # a broken line: its id and time not read as such
    (source / "carts.csv").write_text(
        "id,product_id,customer_id,quantity,created_at,delete_at\n" + "\n".join(rows) + "\n",
        encoding="utf-8",
    )

    assert nightly_input(source, tmp_path / "nightly") == 3

    written = (tmp_path / "nightly" / "carts.csv").read_text(encoding="utf-8").splitlines()
    # lines 1, 101 (broken: kept so) and 201; ids after 250, the day after 2024-12-28
    assert written == [
        "id,product_id,customer_id,quantity,created_at,delete_at",
        "251,2,2,2,2024-12-29 10:01:00,",
        "252,1,1,1,yesterday,",
        "253,6,2,1,2024-12-29 10:21:00,",
    ]
