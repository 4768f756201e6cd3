"""The database: an engine for a URL, its schema brought up to date by Alembic, sessions.

SQLite (a file, nothing to start) runs in WAL mode, and every transaction takes the write lock when
it begins (`BEGIN IMMEDIATE`): two requests never both read an item as free and both hand it out,
and a committed answer is in the write-ahead log before the client hears back, so `kill -9` loses
none. PostgreSQL (a `postgresql+psycopg://` URL) serves several server processes or machines; the
engine hands out items with `SELECT ... FOR UPDATE SKIP LOCKED`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from headstart.errors import ConfigError

MIGRATIONS = Path(__file__).parent / "migrations"
DEFAULT_URL = "sqlite:///microtasks.db"
BUSY_TIMEOUT_MS = 30_000  # a writer waits this long for another's lock before giving up


def connect(url: str, create: bool = True) -> Engine:
    """An engine for `url`, refused in one line when it names no database headstart can use (or,
    without `create`, a SQLite file that does not exist yet)."""
    try:
        engine = create_engine(url, **_options(url))
    except (ArgumentError, ImportError) as error:
        raise ConfigError(
            f"Cannot use database URL '{_safe(url)}' ({error}); give e.g. sqlite:///microtasks.db or "
            "postgresql+psycopg://user@host/db."
        ) from None
    database = engine.url.database or ""
    if not create and engine.dialect.name == "sqlite" and not Path(database).is_file():
        raise ConfigError(
            f"No task database at '{database}'; create it with `headstart tasks project FILE --db {url}`."
        )
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_settings)
        event.listen(engine, "begin", lambda connection: connection.exec_driver_sql("BEGIN IMMEDIATE"))
    return engine


def _options(url: str) -> dict[str, Any]:
    if url.startswith("sqlite"):  # one connection per thread of FastAPI's pool
        return {"connect_args": {"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000}}
    return {"pool_pre_ping": True}


def _sqlite_settings(connection: Any, _record: Any) -> None:
    connection.isolation_level = None  # transactions begin where the "begin" event says, not in pysqlite
    cursor = connection.cursor()
    for pragma in (
        "journal_mode=WAL",
        "synchronous=NORMAL",
        "foreign_keys=ON",
        "secure_delete=ON",  # erased data is overwritten with zeros, not left in free space
        f"busy_timeout={BUSY_TIMEOUT_MS}",
    ):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def _safe(url: str) -> str:
    """The URL without its password."""
    scheme, _, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    return f"{scheme}://{credentials.split(':')[0]}:***@{host}" if at and ":" in credentials else url


def upgrade(engine: Engine) -> str:
    """Bring the schema to the newest revision (creating it in an empty database); returns it."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
            revision = MigrationContext.configure(connection).get_current_revision()
    except OperationalError as error:
        raise ConfigError(f"Cannot open the database '{_safe(str(engine.url))}': {error.orig}.") from None
    return revision or ""


def purge_erased(engine: Engine) -> None:
    """Make erased rows unrecoverable from the files: SQLite moves the write-ahead log into the
    database (which `secure_delete` keeps free of erased bytes) and truncates the log; PostgreSQL
    vacuums the tables an erasure touches, so no dead row version keeps the link."""
    if engine.dialect.name == "sqlite":
        raw = engine.raw_connection()  # outside a transaction, where a checkpoint can run
        try:
            raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            raw.close()
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        for table in ("answers", "assignments", "annotators", "projects"):
            connection.exec_driver_sql(f"VACUUM {table}")


def sessions(engine: Engine) -> sessionmaker[Session]:
    """A session factory whose objects stay readable after commit."""
    return sessionmaker(engine, expire_on_commit=False)
