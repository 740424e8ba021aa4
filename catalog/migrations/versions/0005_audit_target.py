"""audit_log.target: what a row's action changed, e.g. which token

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 01:25:00

`token_create` and `token_revoke` rows name the token they are about (its
holder's name, never the secret) in `target`; rows written before this
migration, and actions about a camera or a snapshot, leave it null.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # SQLite adds a nullable column in place: no table copy.
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("target", sa.String(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_column("target")
