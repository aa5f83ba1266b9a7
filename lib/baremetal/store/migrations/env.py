"""Alembic environment: runs against the Store handed over in the config's attributes."""

from alembic import context

from baremetal.store.schema import metadata

config = context.config
store = config.attributes["store"]

with store.engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=store.is_sqlite,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
