"""The buy path's statements prepared once per database session: the same rows as plain SQL, safe after an error,
re-prepared on a new session, and plain SQL where a session may not outlive a transaction (CONN_MAX_AGE 0)."""

import pytest
from django.db import DatabaseError, DataError, connection, transaction

from trading.services import prepared

pytestmark = pytest.mark.django_db

SQL = "SELECT %(a)s::int * 2, 100 / %(b)s::int, %(a)s::int + %(b)s::int, '50%%'"


def _run(params):
    with connection.cursor() as cursor:
        prepared.execute(connection, cursor, SQL, params)
        return cursor.fetchone()


def _sessions_statements() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM pg_prepared_statements WHERE statement LIKE %s", ["%100 / $2::int%"])
        return [row[0] for row in cursor.fetchall()]


def test_a_statement_is_prepared_once_and_answers_as_plain_sql(settings):
    assert prepared.usable(connection)
    for a, b in ((3, 4), (5, 10), (7, 1)):
        assert _run({"a": a, "b": b}) == (a * 2, 100 // b, a + b, "50%")
    assert len(_sessions_statements()) == 1
    with connection.cursor() as cursor:  # positional placeholders as well
        prepared.execute(connection, cursor, "SELECT %s::int - %s::int", [9, 4])
        assert cursor.fetchone() == (5,)


def test_a_failed_first_round_trip_leaves_the_next_one_working():
    with pytest.raises(DataError), transaction.atomic():
        _run({"a": 1, "b": 0})  # division by zero: the PREPARE in the same round trip may have happened or not
    assert _run({"a": 2, "b": 5}) == (4, 20, 7, "50%")
    assert _run({"a": 3, "b": 5}) == (6, 20, 8, "50%")


def test_a_session_that_lost_its_statements_prepares_them_again():
    assert _run({"a": 1, "b": 1}) == (2, 100, 2, "50%")
    with connection.cursor() as cursor:
        cursor.execute(f"DEALLOCATE {_sessions_statements()[0]}")  # as DISCARD ALL would (for this one only)
    with pytest.raises(DatabaseError), transaction.atomic():
        _run({"a": 1, "b": 1})  # the one call that finds its statement gone fails
    assert _run({"a": 2, "b": 1}) == (4, 100, 3, "50%")


@pytest.mark.django_db(transaction=True)  # a session can end only outside the test's transaction
def test_a_new_session_prepares_again():
    assert _run({"a": 1, "b": 1}) == (2, 100, 2, "50%")
    connection.close()  # the next query opens a new session, which has none of the old one's statements
    connection.ensure_connection()
    assert _sessions_statements() == []
    assert _run({"a": 1, "b": 2}) == (2, 50, 3, "50%") and len(_sessions_statements()) == 1


def test_without_persistent_connections_statements_go_as_text(monkeypatch):
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 0)
    assert not prepared.usable(connection)
    with connection.cursor() as cursor:
        for value in (4, 5):
            prepared.execute(connection, cursor, "SELECT 300 / %s::int", [value])
            assert cursor.fetchone() == (300 // value,)
        cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s", ["%300 / $1::int%"])
        assert cursor.fetchone() == (0,)
