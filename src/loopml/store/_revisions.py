"""The schema revisions this loopml knows, oldest first: the Alembic migrations under ``migrations/versions``.

Kept apart from the SQL code so that a reader can check a database's revision without loading SQLAlchemy.
"""

# Every migration under migrations/versions, oldest first; tests check this against Alembic's own view.
REVISIONS: tuple[str, ...] = (
    "0001",
    "0002",
    "0003",
    "0004",
    "0005",
    "0006",
    "0007",
    "0008",
    "0009",
    "0010",
    "0011",
    "0012",
    "0013",
)
HEAD = REVISIONS[-1]
