"""Alembic environment: runs the project's migrations against the URL the caller configured."""

from alembic import context
from sqlalchemy import engine_from_config, pool
from sqlmodel import SQLModel

import models.alerts  # noqa: F401  (registers the tables on SQLModel.metadata)
import models.audit  # noqa: F401
import models.claims  # noqa: F401
import models.confirmations  # noqa: F401
import models.flow_health  # noqa: F401
import models.investigations  # noqa: F401
import models.issue_state  # noqa: F401
import models.metrics  # noqa: F401
import models.runbooks  # noqa: F401
import models.telemetry  # noqa: F401
import models.webhooks  # noqa: F401

config = context.config
target_metadata = SQLModel.metadata


def run_offline() -> None:
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata,
                      literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connectable = engine_from_config(config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.",
                                     poolclass=pool.NullPool)
    with connectable.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
