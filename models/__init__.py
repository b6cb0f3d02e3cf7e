"""Tortoise models of Rentrée and the domain rules that need no UI, one module per business area."""

MODEL_MODULES: list[str] = [
    "models.schools",
    "models.audit",
    "models.views",
    "models.campaign",
    "models.outbox",
    "models.joblease",
    "models.accounts",
    "models.fleet",
    "models.equipment",
]

# Pitfall (Tortoise 1.1 on SQLite): a model's docstring becomes the table comment in the DDL, and a
# semicolon in it splits the migration's CREATE TABLE statement. Keep model docstrings free of ';'.
