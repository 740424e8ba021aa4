"""Alembic environment: runs on the connection handed over by `catalog.db.migrate`."""

from alembic import context

from catalog.models import Base
from catalog.queries.search_schema import include_object

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    # The search side of migration 0003 (trigger-kept tables, engine-specific
    # indexes) is not in the models; autogenerate must not propose to drop it.
    include_object=include_object,
)
with context.begin_transaction():
    context.run_migrations()
