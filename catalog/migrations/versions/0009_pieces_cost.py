"""the pieces functions' true cost: PostgreSQL reads their index instead of computing each row's

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 08:50:00

`camgrid_text_grams(name, address)`, every one- and two-character piece of
a camera's lowered name and address (migration 0003), takes about 0.1 ms
to compute. Created with PostgreSQL's default cost of 100 operators, it
looked cheap: on a district's 2,000 cameras the planner computed it for
every row, instead of reading its GIN index, for any piece more than about
a tenth of the cameras hold. A search of two characters then took 230 to
400 ms, and bench.api on PostgreSQL answered 7 of them a second. At its
true cost the index is read: 4 ms.

Declared costs only weigh plans; every answer stays the same. SQLite: nothing
changes (it has no such functions).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# In units of cpu_operator_cost (0.0025 of a page read): about a tenth of a millisecond.
_COSTS = {"camgrid_grams(text)": 5000, "camgrid_text_grams(text, text)": 10000}
_DEFAULT_COST = 100


def upgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    for function, cost in _COSTS.items():
        op.execute(f"ALTER FUNCTION {function} COST {cost}")


def downgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    for function in _COSTS:
        op.execute(f"ALTER FUNCTION {function} COST {_DEFAULT_COST}")
