"""Where the results store lives and how its engine is opened: the default URL (RIG_DB_URL, else an
SQLite file under reports/), and SQLite in WAL mode with synchronous FULL and foreign keys on."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.pool import StaticPool

DB_URL_ENV = "RIG_DB_URL"
DEFAULT_DB_RELPATH = Path("reports") / "results.sqlite"
SQLITE_BUSY_TIMEOUT_S = 30.0


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
