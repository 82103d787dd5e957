"""Where the results store lives and how its engine is opened: the default URL (RIG_DB_URL, else an
SQLite file under reports/), and SQLite in WAL mode with synchronous FULL and foreign keys on; a store
made by an older rig gets the columns added since (add_missing_columns)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, inspect, text
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import StaticPool

DB_URL_ENV = "RIG_DB_URL"
DEFAULT_DB_RELPATH = Path("reports") / "results.sqlite"
SQLITE_BUSY_TIMEOUT_S = 30.0
# Query parameters that carry a secret (libpq's password, and what other drivers call it).
SECRET_QUERY_KEYS = frozenset({"password", "passwd", "pwd", "sslpassword", "secret", "token"})
MASK = "***"


def masked_url(url: str) -> str:
    """The store URL as it may be shown or recorded: no password, secret query values masked."""
    try:
        parsed = make_url(url)
        query = {k: (MASK if k.lower() in SECRET_QUERY_KEYS else v) for k, v in parsed.query.items()}
        bare = URL.create(parsed.drivername, parsed.username, None, parsed.host, parsed.port,
                          parsed.database, query)
        return bare.render_as_string(hide_password=False)
    except Exception:  # noqa: BLE001 - an unparsable URL is shown by scheme only
        return url.split(":", 1)[0] + ":…"


def _secrets_of(url: str) -> list[str]:
    try:
        parsed = make_url(url)
    except Exception:  # noqa: BLE001 - unparsable: the whole text after the scheme may be secret
        rest = url.split(":", 1)[1] if ":" in url else url
        return [rest] if rest else []
    found = [parsed.password] if parsed.password else []
    for key, value in parsed.query.items():
        if key.lower() in SECRET_QUERY_KEYS:
            found += [value] if isinstance(value, str) else list(value)
    return [str(secret) for secret in found if secret]


def mask_url_secrets(text: str, url: str | None) -> str:
    """`text` (an error message) with the URL shown masked and any of its secrets replaced by ***."""
    if not url:
        return text
    text = text.replace(url, masked_url(url))
    for secret in sorted(_secrets_of(url), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def repo_root() -> Path:
    """The repository holding this package when run from a checkout; else the working dir."""
    here = Path(__file__).resolve().parents[2]
    return here if (here / "pyproject.toml").is_file() else Path.cwd()


def default_url() -> str:
    return os.environ.get(DB_URL_ENV) or f"sqlite:///{repo_root() / DEFAULT_DB_RELPATH}"


def make_engine(url: str) -> Engine:
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True)
    database = url.split("///", 1)[1] if "///" in url else ""
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})
    else:
        engine = create_engine(url, poolclass=StaticPool,
                               connect_args={"check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    return engine


# Columns added to existing tables since the first schema: (table, column, SQL type), added on open.
ADDED_COLUMNS = (("runs", "audit_head", "JSON"), ("runs", "signature", "JSON"))


def add_missing_columns(engine: Engine) -> list[str]:
    """Bring a store made by an older rig up to date (nullable columns only); returns what was added."""
    inspector = inspect(engine)
    added = []
    for table, column, sql_type in ADDED_COLUMNS:
        if column not in {c["name"] for c in inspector.get_columns(table)}:
            try:
                with engine.begin() as connection:
                    connection.execute(text(f"ALTER TABLE {table} ADD COLUMN {column} {sql_type}"))
            except SQLAlchemyError:
                # Another station added it at the same moment: fine; anything else is the store's error.
                if column not in {c["name"] for c in inspect(engine).get_columns(table)}:
                    raise
            added.append(f"{table}.{column}")
    return added
