"""Engine and session factories. SQLite (WAL, busy timeout) by default, any SQLAlchemy URL otherwise."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar, cast

from sqlalchemy import ColumnElement, CursorResult, Engine, Update, event, or_, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session, SQLModel, col, create_engine

from core.clock import ensure_utc

# How long a SQLite writer waits for the write lock before "database is locked". Ticks and the
# dashboard can afford to wait; a Twilio webhook cannot: Twilio gives up after 15 s
# (TWILIO_WEBHOOK_BUDGET_S) and never retries a <Gather> callback, so the resident's reply would
# be lost with the request. The reply webhook therefore waits far less, through
# bounded_session() (notifier.stored_replies: 2 s to store the reply, 5 s to act on it), and
# answers Twilio itself when the database cannot take the write; so does every other Twilio
# webhook (notifier.webhook_spool: 5 s, then spooled). 10 s is for ticks and the dashboard.
SQLITE_BUSY_TIMEOUT_MS = 10_000
TWILIO_WEBHOOK_BUDGET_S = 15.0
PG_CONNECT_TIMEOUT_S = 5

RowT = TypeVar("RowT", bound=SQLModel)


def normalise_url(url: str) -> str:
    """Use psycopg 3 for plain ``postgresql://`` URLs (psycopg2 is not a dependency)."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def make_engine(url: str, *, echo: bool = False) -> Engine:
    url = normalise_url(url)
    parsed = make_url(url)
    kwargs: dict[str, Any] = {"echo": echo}
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin_immediate)
        return engine
    kwargs["pool_pre_ping"] = True
    if parsed.get_backend_name() == "postgresql" and "connect_timeout" not in parsed.query:
        # libpq waits for ever by default; a server that does not answer must fail a request
        # (and a Twilio webhook its fallback) in seconds, not hang it.
        kwargs["connect_args"] = {"connect_timeout": PG_CONNECT_TIMEOUT_S}
    engine = create_engine(url, **kwargs)
    if parsed.get_backend_name() == "postgresql":
        event.listen(engine, "connect", _postgres_custom_plans)
    return engine


def _postgres_custom_plans(dbapi_conn: Any, _record: Any) -> None:
    """Plan every statement for the values it runs with.

    psycopg prepares a statement on the server after its 5th run, and PostgreSQL then switches
    to one generic plan for any values after 5 more if that looks no dearer. For the ticks'
    set queries it is much dearer: connectivity's "every plug offline" query at 100k households
    went from ~50 ms to 0.7-1.4 s a tick from its 11th run on (a worker runs it every 30 s for
    ever). Planning each run costs well under a millisecond for these statements."""
    autocommit = dbapi_conn.autocommit
    dbapi_conn.autocommit = True  # SET outside a transaction, so it lasts for the session
    try:
        with dbapi_conn.cursor() as cur:
            cur.execute("SET plan_cache_mode = force_custom_plan")
    finally:
        dbapi_conn.autocommit = autocommit


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # Let SQLAlchemy, not pysqlite, decide when transactions start (see _sqlite_begin_immediate).
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _sqlite_begin_immediate(conn: Any) -> None:
    # BEGIN IMMEDIATE takes the write lock up front, so two writers queue on busy_timeout
    # instead of failing with "database is locked" when a read transaction tries to upgrade.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, class_=Session, expire_on_commit=False)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on error. The only place that commits."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


@contextmanager
def bounded_session(engine: Engine, wait_s: float) -> Iterator[Session]:
    """Like :func:`session_scope`, but every wait for a lock gives up after about ``wait_s``
    (raising ``OperationalError``) instead of the engine's usual patience: for work that must
    answer someone in time (a Twilio webhook) and has somewhere else to go when it cannot.

    SQLite: this connection's busy timeout, set before its ``BEGIN IMMEDIATE`` and put back
    afterwards. PostgreSQL: ``lock_timeout`` and a ``statement_timeout`` for this transaction.
    """
    millis = max(1, int(wait_s * 1000))
    with engine.connect() as conn:
        sqlite = is_sqlite(engine)
        if sqlite:  # on the DBAPI connection: nothing may begin the transaction before it
            conn.connection.driver_connection.execute(f"PRAGMA busy_timeout={millis}")  # type: ignore[union-attr]
        try:
            with Session(bind=conn, expire_on_commit=False) as session:
                try:
                    if not sqlite:
                        session.execute(text(f"SET LOCAL lock_timeout = {millis}"))
                        session.execute(text(f"SET LOCAL statement_timeout = {millis * 2}"))
                    yield session
                    session.commit()
                except BaseException:
                    session.rollback()
                    raise
        finally:
            if sqlite:
                conn.connection.driver_connection.execute(  # type: ignore[union-attr]
                    f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}"
                )


def database_now(session: Session) -> datetime:
    """The database's clock (aware UTC): the one clock every worker host shares.

    Leases written by one host and judged by another use it, since host clocks can be minutes
    apart (issue 14.6). PostgreSQL: the server's ``statement_timestamp()``. SQLite runs inside
    our process, so it is this host's clock, which every process on the one SQLite file shares.
    """
    if session.get_bind().dialect.name == "sqlite":
        stamp = session.execute(text("SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')")).scalar_one()
        return datetime.fromisoformat(str(stamp)).replace(tzinfo=UTC)
    return ensure_utc(session.execute(text("SELECT statement_timestamp()")).scalar_one())


def claim_row(session: Session, statement: Update) -> bool:
    """Run a conditional UPDATE meant to win exactly one row; True if it did.

    The pattern behind every lock-free claim here (a case's version, an outbox row's status, a
    schedule's due time, a pacing slot...): the WHERE clause says what we last read, so a writer
    who got there first leaves our UPDATE matching no row, and we know we lost without holding a
    lock. The session's loaded objects are not touched (``synchronize_session=False``): callers
    refresh or expire what they need.
    """
    result = session.execute(statement.execution_options(synchronize_session=False))
    return cast(CursorResult[Any], result).rowcount == 1


def insert_first(session: Session, row: SQLModel) -> bool:
    """Insert ``row`` inside a savepoint; False if a unique key says a concurrent writer inserted
    its twin first. Only the savepoint is rolled back: the caller's transaction goes on."""
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        return False
    return True


def insert_or_find(session: Session, row: RowT, find: Callable[[], RowT | None]) -> tuple[RowT, bool]:
    """:func:`insert_first`, then the winner: ``(row, True)`` when it went in; when a unique key
    refuses it, ``(find(), False)``, the twin a concurrent writer inserted first. When ``find``
    finds none, the refusal was not a lost race and its ``IntegrityError`` is raised again."""
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        winner = find()
        if winner is None:
            raise
        return winner, False
    return row, True


def claim_lease(
    session: Session,
    model: type[SQLModel],
    household_id: int,
    lease_for: timedelta,
    *conditions: ColumnElement[bool],
) -> bool:
    """Lease a household's row of ``model`` for ``lease_for`` (the database's clock, which every
    worker shares); False if another worker holds it or ``conditions`` do not hold.

    ``model`` has the household's id as its primary key and a ``claimed_until`` lease column
    (the roll-up's and the routine refit's). A household with no row yet: the new row is the
    claim (:func:`insert_first`), so a concurrent first claim loses on the key.
    """
    table: Any = model  # the columns are the model's, which SQLModel does not type
    db_now = database_now(session)
    lease = db_now + lease_for
    if claim_row(
        session,
        update(model)
        .where(
            col(table.household_id) == household_id,
            *conditions,
            or_(col(table.claimed_until).is_(None), col(table.claimed_until) <= db_now),
        )
        .values(claimed_until=lease),
    ):
        return True
    if session.get(model, household_id) is not None:
        return False
    return insert_first(session, model(household_id=household_id, claimed_until=lease))
