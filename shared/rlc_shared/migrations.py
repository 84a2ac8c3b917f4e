"""Alembic helpers: each service's ``migrations/env.py`` is two lines calling :func:`run_env`.

Migrations are a separate, one-shot step (``rlc migrate``, the Kubernetes migration job), not
something the app does at start-up; ``/readyz`` reports whether the database is at head.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, pool
from sqlalchemy.engine import Engine

from rlc_shared.db import make_engine, normalise_url


def alembic_config(service_dir: Path, database_url: str) -> Config:
    cfg = Config(str(service_dir / "alembic.ini"))
    cfg.set_main_option("script_location", str(service_dir / "migrations"))
    # ConfigParser interpolation: a literal % in a password must be doubled.
    cfg.set_main_option("sqlalchemy.url", normalise_url(database_url).replace("%", "%%"))
    return cfg


def upgrade(service_dir: Path, database_url: str, revision: str = "head") -> None:
    if database_url.startswith("sqlite:///"):
        Path(database_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(service_dir, database_url), revision)


def downgrade(service_dir: Path, database_url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(service_dir, database_url), revision)


def head_revisions(service_dir: Path) -> set[str]:
    script = ScriptDirectory(str(service_dir / "migrations"))
    return set(script.get_heads())


def current_revisions(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(MigrationContext.configure(conn).get_current_heads())


def at_head(engine: Engine, service_dir: Path) -> bool:
    return current_revisions(engine) == head_revisions(service_dir)


def run_env(target_metadata: MetaData, *, env_var: str, default_url: Callable[[], str]) -> None:
    """The body of every service's ``migrations/env.py``.

    The URL comes from ``rlc migrate`` (set on the config), else the service's
    ``<PREFIX>DATABASE_URL``, else its settings' default. The migration job needs only the
    database URL, not the service's other secrets (e.g. a signing key), so settings are built
    only as the last resort.
    """
    import os

    from alembic import context

    config = context.config
    url = normalise_url(
        config.get_main_option("sqlalchemy.url") or os.environ.get(env_var) or default_url()
    )
    if context.is_offline_mode():
        context.configure(
            url=url,
            target_metadata=target_metadata,
            literal_binds=True,
            render_as_batch=url.startswith("sqlite"),
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=engine.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()
