"""Boot images as resources, sets and files (bytes on disk, not in rows); boot sources and
their selections; progress of image work. Images stored in rows before this are dropped:
`baremetal images build` (or `up`) makes them again.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def _id() -> sa.Column:
    return sa.Column("id", sa.Integer(), autoincrement=True, nullable=False)


def upgrade() -> None:
    op.drop_table("boot_resources")
    op.create_table(
        "boot_resources", _id(),
        sa.Column("rtype", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("architecture", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("updated", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_boot_resources")),
        sa.UniqueConstraint("name", "architecture",
                            name=op.f("uq_boot_resources_name_architecture")),
    )
    op.create_table(
        "boot_resource_sets", _id(),
        sa.Column("resource_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=32), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["resource_id"], ["boot_resources.id"], ondelete="CASCADE",
                                name=op.f("fk_boot_resource_sets_resource_id_boot_resources")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_boot_resource_sets")),
        sa.UniqueConstraint("resource_id", "version",
                            name=op.f("uq_boot_resource_sets_resource_id_version")),
    )
    op.create_index(op.f("ix_boot_resource_sets_resource_id"), "boot_resource_sets",
                    ["resource_id"], unique=False)
    op.create_table(
        "boot_resource_files", _id(),
        sa.Column("set_id", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=64), nullable=False),
        sa.Column("filetype", sa.String(length=32), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("received", sa.BigInteger(), nullable=False),
        sa.Column("complete", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["set_id"], ["boot_resource_sets.id"], ondelete="CASCADE",
                                name=op.f("fk_boot_resource_files_set_id_boot_resource_sets")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_boot_resource_files")),
        sa.UniqueConstraint("set_id", "filename",
                            name=op.f("uq_boot_resource_files_set_id_filename")),
    )
    op.create_index(op.f("ix_boot_resource_files_set_id"), "boot_resource_files", ["set_id"],
                    unique=False)
    op.create_index(op.f("ix_boot_resource_files_sha256"), "boot_resource_files", ["sha256"],
                    unique=False)
    op.create_table(
        "boot_sources", _id(),
        sa.Column("url", sa.String(length=1024), nullable=False),
        sa.Column("keyring_filename", sa.String(length=1024), nullable=False),
        sa.Column("keyring_data", sa.LargeBinary(), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("updated", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_boot_sources")),
    )
    op.create_table(
        "boot_source_selections", _id(),
        sa.Column("boot_source_id", sa.Integer(), nullable=False),
        sa.Column("os", sa.String(length=32), nullable=False),
        sa.Column("release", sa.String(length=64), nullable=False),
        sa.Column("arches", sa.JSON(), nullable=False),
        sa.Column("subarches", sa.JSON(), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["boot_source_id"], ["boot_sources.id"], ondelete="CASCADE",
                                name=op.f("fk_boot_source_selections_boot_source_id_"
                                          "boot_sources")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_boot_source_selections")),
        sa.UniqueConstraint("boot_source_id", "os", "release",
                            name=op.f("uq_boot_source_selections_boot_source_id_os_release")),
    )
    op.create_index(op.f("ix_boot_source_selections_boot_source_id"),
                    "boot_source_selections", ["boot_source_id"], unique=False)
    op.create_table(
        "image_activity",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("step", sa.String(length=64), nullable=False),
        sa.Column("done_bytes", sa.BigInteger(), nullable=False),
        sa.Column("total_bytes", sa.BigInteger(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("started", sa.DateTime(), nullable=False),
        sa.Column("updated", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_image_activity")),
    )


def downgrade() -> None:
    op.drop_table("image_activity")
    op.drop_index(op.f("ix_boot_source_selections_boot_source_id"),
                  table_name="boot_source_selections")
    op.drop_table("boot_source_selections")
    op.drop_table("boot_sources")
    op.drop_index(op.f("ix_boot_resource_files_sha256"), table_name="boot_resource_files")
    op.drop_index(op.f("ix_boot_resource_files_set_id"), table_name="boot_resource_files")
    op.drop_table("boot_resource_files")
    op.drop_index(op.f("ix_boot_resource_sets_resource_id"), table_name="boot_resource_sets")
    op.drop_table("boot_resource_sets")
    op.drop_table("boot_resources")
    op.create_table(
        "boot_resources", _id(),
        sa.Column("architecture", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("filename", sa.String(length=64), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_boot_resources")),
        sa.UniqueConstraint("architecture", "name", "filename",
                            name=op.f("uq_boot_resources_architecture_name_filename")),
    )
