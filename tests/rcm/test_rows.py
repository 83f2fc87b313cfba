"""rcm.rows on the database: a set of wanted values bound as one parameter finds exactly the
rows it names, whatever the values hold (quotes, backslashes, commas, braces, the word NULL)."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, column, literal_column, select, text

from rcm.rows import array_literal, one_of

AWKWARD = ["a", 'b"c', "d\\e", "x,y", "{z}", " lead", "NULL", "", "ÄÖ"]


def test_array_literal_round_trips_every_value_on_postgresql(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("array literals are PostgreSQL's")
    values: list[str | None] = [*AWKWARD, None]
    with engine.connect() as connection:
        got = connection.exec_driver_sql(
            "SELECT %(v)s::varchar[]", {"v": array_literal(values)}
        ).scalar()
    assert got == values


def test_one_of_finds_exactly_the_named_values(engine: Engine) -> None:
    postgresql = engine.dialect.name == "postgresql"
    stored = [*AWKWARD, "other", "a b"]
    with engine.begin() as connection:
        connection.execute(text("CREATE TEMPORARY TABLE wanted_values (v VARCHAR(20))"))
        connection.execute(
            text("INSERT INTO wanted_values (v) VALUES (:v)"), [{"v": v} for v in stored]
        )
        query = (
            select(literal_column("v"))
            .select_from(text("wanted_values"))
            .where(one_of(column("v"), [*AWKWARD, None], postgresql))
        )
        found = sorted(connection.execute(query).scalars())
    assert found == sorted(AWKWARD)
