"""Schema: the committed migrations give the same schema as the models, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from tortoise import Tortoise, connections

from models import db as database


async def _schema(url: str) -> dict[str, Any]:
    """Tables → columns (name, type, nullability) and indexes (columns, uniqueness) of a database."""
    conn = connections.get("default")
    schema: dict[str, Any] = {}
    if database.is_sqlite(url):
        tables = [r["name"] for r in await conn.execute_query_dict(
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' "
            "AND name NOT LIKE 'tortoise_migrations%'")]
        for table in tables:
            cols = await conn.execute_query_dict(f'PRAGMA table_info("{table}")')
            idx = await conn.execute_query_dict(f'PRAGMA index_list("{table}")')
            indexes = set()
            for i in idx:
                info = await conn.execute_query_dict(f'PRAGMA index_info("{i["name"]}")')
                indexes.add((tuple(r["name"] for r in info), bool(i["unique"])))
            fks = await conn.execute_query_dict(f'PRAGMA foreign_key_list("{table}")')
            schema[table] = {
                "columns": {(c["name"], c["type"].upper(), bool(c["notnull"]), bool(c["pk"])) for c in cols},
                "indexes": indexes,
                "fks": {(f["from"], f["table"], f["to"], f["on_delete"]) for f in fks},
            }
    else:
        cols = await conn.execute_query_dict(
            "SELECT table_name, column_name, data_type, is_nullable, character_maximum_length "
            "FROM information_schema.columns WHERE table_schema='public' "
            "AND table_name NOT LIKE 'tortoise_migrations%'")
        for c in cols:
            schema.setdefault(c["table_name"], {"columns": set(), "indexes": set()})["columns"].add(
                (c["column_name"], c["data_type"], c["is_nullable"], c["character_maximum_length"]))
        idx = await conn.execute_query_dict(
            "SELECT t.relname AS table_name, ix.indisunique AS uniq, "
            "array_to_string(array(SELECT a.attname FROM unnest(ix.indkey) WITH ORDINALITY k(attnum, n) "
            "JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum ORDER BY k.n), ',') AS cols "
            "FROM pg_index ix JOIN pg_class t ON t.oid = ix.indrelid JOIN pg_namespace ns ON ns.oid = t.relnamespace "
            "WHERE ns.nspname = 'public' AND t.relname NOT LIKE 'tortoise_migrations%'")
        for i in idx:
            schema.setdefault(i["table_name"], {"columns": set(), "indexes": set()})["indexes"].add(
                (i["cols"], bool(i["uniq"])))
    return schema


async def test_migrations_give_the_schema_of_the_models(db_url: str) -> None:
    """Migrate an empty database, then compare with the schema Tortoise generates from the models."""
    from sheets.engine.textindex import engine_owned

    await database.init(db_url)
    migrated = {t: v for t, v in (await _schema(db_url)).items() if not engine_owned(t)}  # built at open, not models
    await database.close()

    # Same database emptied, schema generated straight from the models.
    if database.is_sqlite(db_url):
        generated_url = db_url.replace(".sqlite3", "-generated.sqlite3")
    else:
        from tests.conftest import _reset_pg

        await _reset_pg(db_url)
        generated_url = db_url
    await Tortoise.init(config=database.build_config(generated_url), _enable_global_fallback=True)
    await Tortoise.generate_schemas()
    generated = await _schema(generated_url)
    await database.close()

    assert migrated.keys() == generated.keys()
    for table in generated:
        assert migrated[table] == generated[table], table
    assert "school" in migrated


async def test_no_model_change_lacks_a_migration(db: str) -> None:
    """`tortoise makemigrations` would write nothing: every model change has its committed migration."""
    from tortoise.migrations.autodetector import MigrationAutodetector

    config = database.build_config(db)
    detector = MigrationAutodetector(Tortoise.apps, config["apps"])
    writers = await detector.changes()
    assert writers == [], [w.name for w in writers]


async def test_migrating_twice_changes_nothing(db: str) -> None:
    from models.schools import School

    await School(uai="0750650Z", name="Avant").save()
    await database.close()
    await database.init(db)  # applies migrations again: nothing to do, data kept
    assert await School.filter(uai="0750650Z").count() == 1
