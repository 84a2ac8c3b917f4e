"""surveys: rounds and codebook versions, exports, responses, the unmatched queue, manual
links and teachers' withdrawals

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "manual_link",
        sa.Column("email_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("urn", sa.Integer(), nullable=False),
        sa.Column("la_code", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=True),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
        sa.Column("set_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("set_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("email_hash", name=op.f("pk_manual_link")),
    )
    op.create_table(
        "survey_round",
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("survey_id", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("opens_on", sa.Date(), nullable=False),
        sa.Column("closes_on", sa.Date(), nullable=False),
        sa.Column("codebook_version", sa.Integer(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_survey_round")),
    )
    op.create_table(
        "teacher_withdrawal",
        sa.Column("teacher_key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("requested_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("requested_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
        sa.Column("responses_deleted", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("teacher_key", name=op.f("pk_teacher_withdrawal")),
    )
    op.create_table(
        "codebook_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("round", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("codebook", sa.JSON(), nullable=False),
        sa.Column("fingerprint", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("frozen_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["round"], ["survey_round.name"], name=op.f("fk_codebook_version_round_survey_round")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_codebook_version")),
        sa.UniqueConstraint("round", "version", name=op.f("uq_codebook_version_round_version")),
    )
    with op.batch_alter_table("codebook_version", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_codebook_version_round"), ["round"], unique=False)

    op.create_table(
        "export",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("round", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("survey_id", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("webhook_id", sqlmodel.sql.sqltypes.AutoString(length=256), nullable=True),
        sa.Column("file_name", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("declared_format", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=True),
        sa.Column("format", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=True),
        sa.Column("content_sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("storage_key", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("duplicate_of", sa.Integer(), nullable=True),
        sa.Column("received_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("received_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("codebook_version_id", sa.Integer(), nullable=True),
        sa.Column("claimed_by", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("heartbeat_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("retry_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("started_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("finished_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("progress_row", sa.Integer(), nullable=False),
        sa.Column("last_error", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("linked", sa.Integer(), nullable=False),
        sa.Column("unmatched", sa.Integer(), nullable=False),
        sa.Column("withdrawn", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.Integer(), nullable=False),
        sa.Column("links_exact", sa.Integer(), nullable=False),
        sa.Column("links_historical", sa.Integer(), nullable=False),
        sa.Column("links_domain", sa.Integer(), nullable=False),
        sa.Column("links_manual", sa.Integer(), nullable=False),
        sa.Column("rows_rejected", sa.Integer(), nullable=False),
        sa.Column("error_count", sa.Integer(), nullable=False),
        sa.Column("errors", sa.JSON(), nullable=False),
        sa.Column("warnings", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["codebook_version_id"],
            ["codebook_version.id"],
            name=op.f("fk_export_codebook_version_id_codebook_version"),
        ),
        sa.ForeignKeyConstraint(
            ["duplicate_of"], ["export.id"], name=op.f("fk_export_duplicate_of_export")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_export")),
        sa.UniqueConstraint("webhook_id", name=op.f("uq_export_webhook_id")),
    )
    with op.batch_alter_table("export", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_export_content_sha256"), ["content_sha256"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_export_round"), ["round"], unique=False)
        batch_op.create_index(batch_op.f("ix_export_status"), ["status"], unique=False)
        batch_op.create_index(
            "uq_export_original_content",
            ["content_sha256"],
            unique=True,
            postgresql_where=sa.text("duplicate_of IS NULL"),
            sqlite_where=sa.text("duplicate_of IS NULL"),
        )

    op.create_table(
        "survey_response",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("round", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("response_id", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("export_id", sa.Integer(), nullable=False),
        sa.Column("row", sa.Integer(), nullable=False),
        sa.Column("teacher_key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column(
            "teacher_key_source", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False
        ),
        sa.Column("school_email_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("urn", sa.Integer(), nullable=True),
        sa.Column("la_code", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=True),
        sa.Column("link_kind", sqlmodel.sql.sqltypes.AutoString(length=12), nullable=True),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("codebook_version_id", sa.Integer(), nullable=False),
        sa.Column("knowledge", sa.Float(), nullable=True),
        sa.Column("attitudes", sa.Float(), nullable=True),
        sa.Column("use", sa.Float(), nullable=True),
        sa.Column("items", sa.LargeBinary(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["codebook_version_id"],
            ["codebook_version.id"],
            name=op.f("fk_survey_response_codebook_version_id_codebook_version"),
        ),
        sa.ForeignKeyConstraint(
            ["export_id"], ["export.id"], name=op.f("fk_survey_response_export_id_export")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survey_response")),
        sa.UniqueConstraint(
            "round", "response_id", name=op.f("uq_survey_response_round_response_id")
        ),
    )
    with op.batch_alter_table("survey_response", schema=None) as batch_op:
        batch_op.create_index("ix_survey_response_round_urn", ["round", "urn"], unique=False)

    op.create_table(
        "unmatched_response",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("response_pk", sa.Integer(), nullable=False),
        sa.Column("round", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("export_id", sa.Integer(), nullable=False),
        sa.Column("row", sa.Integer(), nullable=False),
        sa.Column("response_id", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("email_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("email_domain", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("email_display", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=True),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("detail", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("resolved_urn", sa.Integer(), nullable=True),
        sa.Column("resolved_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("resolved_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column(
            "resolution_reason", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True
        ),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["export_id"], ["export.id"], name=op.f("fk_unmatched_response_export_id_export")
        ),
        sa.ForeignKeyConstraint(
            ["response_pk"],
            ["survey_response.id"],
            name=op.f("fk_unmatched_response_response_pk_survey_response"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_unmatched_response")),
        sa.UniqueConstraint("response_pk", name=op.f("uq_unmatched_response_response_pk")),
    )
    with op.batch_alter_table("unmatched_response", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_unmatched_response_email_hash"), ["email_hash"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_unmatched_response_export_id"), ["export_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_unmatched_response_round"), ["round"], unique=False)
        batch_op.create_index(batch_op.f("ix_unmatched_response_status"), ["status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("unmatched_response", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_unmatched_response_status"))
        batch_op.drop_index(batch_op.f("ix_unmatched_response_round"))
        batch_op.drop_index(batch_op.f("ix_unmatched_response_export_id"))
        batch_op.drop_index(batch_op.f("ix_unmatched_response_email_hash"))

    op.drop_table("unmatched_response")
    with op.batch_alter_table("survey_response", schema=None) as batch_op:
        batch_op.drop_index("ix_survey_response_round_urn")

    op.drop_table("survey_response")
    with op.batch_alter_table("export", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_export_original_content",
            postgresql_where=sa.text("duplicate_of IS NULL"),
            sqlite_where=sa.text("duplicate_of IS NULL"),
        )
        batch_op.drop_index(batch_op.f("ix_export_status"))
        batch_op.drop_index(batch_op.f("ix_export_round"))
        batch_op.drop_index(batch_op.f("ix_export_content_sha256"))

    op.drop_table("export")
    with op.batch_alter_table("codebook_version", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_codebook_version_round"))

    op.drop_table("codebook_version")
    op.drop_table("teacher_withdrawal")
    op.drop_table("survey_round")
    op.drop_table("manual_link")
