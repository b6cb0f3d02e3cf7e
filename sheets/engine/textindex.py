"""The grids' « Recherche rapide » through the databases' own text indexes (issue 15).

A sheet declared with `text_index=True` gets a companion table `<table>_text`: one row per row of the sheet (same
id), one text column `c_<field>` per searchable column that is not a choice (its own fields and those one reference
away: a device's school UAI, its holder's identifier). SQLite keeps it as an FTS5 table with the trigram tokenizer,
PostgreSQL as a plain table with a `pg_trgm` GIN index per column; the quick search becomes `id IN (SELECT … MATCH /
ILIKE …)` on the columns the caller may read (R-SEC-4: maintenance does not search by a device's holder), instead of
one `UPPER(CAST(col)) LIKE '%…%'` scan per column joined with schools and holders.

The companion is kept by the database itself (triggers on the sheet's table, and on the referenced tables for their
key): every write, the engine's one door as well as the bulk seeds and imports, keeps it in step in the same
transaction. It is (re)built when a database opens and its declaration changed (`engine_text_index` holds what was
built); a query of fewer than 3 characters, or a database without `pg_trgm`, falls back to the LIKE scans.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any

from tortoise import connections
from tortoise.expressions import Q, RawSQL

from sheets.engine.declaration import Column, Sheet, all_sheets

log = logging.getLogger("rentree.textindex")

MIN_CHARS = 3  # a trigram index answers from three characters on
_READY: set[str] = set()  # sheets whose companion is built in the open database


@dataclass(frozen=True)
class Source:
    """Where an indexed column's text comes from: the row's own field, or a field of the row one reference away."""

    name: str  # c_<field>
    local: str  # the row's own column holding it (the field, or the reference's `<fk>_id`)
    ref_table: str = ""  # the referenced table, when one reference away
    ref_column: str = ""  # its column

    def expr(self, row: str) -> str:
        """The SQL expression of the text for the row `row` (NEW in a trigger, an alias in the backfill)."""
        if not self.ref_table:
            return f'CAST({row}."{self.local}" AS TEXT)'
        return (f'(SELECT CAST(r."{self.ref_column}" AS TEXT) FROM "{self.ref_table}" r '
                f'WHERE r.id = {row}."{self.local}")')


def _source(sheet: Sheet, column: Column) -> Source | None:
    meta = sheet.model._meta
    parts = column.db_field.split("__")
    field = meta.fields_map.get(parts[0])
    if field is None:
        return None
    if len(parts) == 1:
        if parts[0] not in meta.fields_db_projection:
            return None
        return Source(f"c_{column.field}", meta.fields_db_projection[parts[0]])
    if len(parts) == 2 and getattr(field, "related_model", None) is not None and hasattr(field, "source_field"):
        related = field.related_model._meta
        if parts[1] not in related.fields_db_projection:
            return None
        return Source(f"c_{column.field}", field.source_field, related.db_table, related.fields_db_projection[parts[1]])
    return None


def sources(sheet: Sheet) -> dict[str, Source]:
    """The indexed columns of a sheet, by column field (searchable, not a choice, at most one reference away)."""
    out: dict[str, Source] = {}
    for column in sheet.columns:
        if column.is_searchable and column.kind != "choice":
            found = _source(sheet, column)
            if found is not None:
                out[column.field] = found
    return out


def table_of(sheet: Sheet) -> str:
    return f"{sheet.model._meta.db_table}_text"


def _signature(sheet: Sheet, dialect: str) -> str:
    text = repr((dialect, sheet.model._meta.db_table, sorted((k, v) for k, v in sources(sheet).items())))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _dialect() -> str:
    return connections.get("default").capabilities.dialect


def _sqlite_script(sheet: Sheet) -> list[str]:
    base, text = sheet.model._meta.db_table, table_of(sheet)
    src = list(sources(sheet).values())
    names = ", ".join(s.name for s in src)
    values = ", ".join(s.expr("NEW") for s in src)
    watched = ", ".join(dict.fromkeys(f'"{s.local}"' for s in src))
    script = [f'DROP TABLE IF EXISTS "{text}"',
              f"CREATE VIRTUAL TABLE \"{text}\" USING fts5({names}, tokenize='trigram')",
              f'INSERT INTO "{text}" (rowid, {names}) SELECT b.id, {", ".join(s.expr("b") for s in src)} '
              f'FROM "{base}" b',
              f'CREATE TRIGGER "{text}_ai" AFTER INSERT ON "{base}" BEGIN '
              f'INSERT INTO "{text}" (rowid, {names}) VALUES (NEW.id, {values}); END',
              f'CREATE TRIGGER "{text}_au" AFTER UPDATE OF {watched} ON "{base}" BEGIN '
              f'DELETE FROM "{text}" WHERE rowid = OLD.id; '
              f'INSERT INTO "{text}" (rowid, {names}) VALUES (NEW.id, {values}); END',
              f'CREATE TRIGGER "{text}_ad" AFTER DELETE ON "{base}" BEGIN '
              f'DELETE FROM "{text}" WHERE rowid = OLD.id; END']
    for s in src:
        if s.ref_table:
            script.append(
                f'CREATE TRIGGER "{text}_{s.name}_ref" AFTER UPDATE OF "{s.ref_column}" ON "{s.ref_table}" BEGIN '
                f'UPDATE "{text}" SET {s.name} = CAST(NEW."{s.ref_column}" AS TEXT) '
                f'WHERE rowid IN (SELECT id FROM "{base}" WHERE "{s.local}" = NEW.id); END')
    return script


def _sqlite_drop(sheet: Sheet) -> list[str]:
    text = table_of(sheet)
    drops = [f'DROP TRIGGER IF EXISTS "{text}_{suffix}"' for suffix in ("ai", "au", "ad")]
    drops += [f'DROP TRIGGER IF EXISTS "{text}_{s.name}_ref"' for s in sources(sheet).values() if s.ref_table]
    return drops


def _postgres_script(sheet: Sheet) -> list[str]:
    base, text = sheet.model._meta.db_table, table_of(sheet)
    src = list(sources(sheet).values())
    names = ", ".join(s.name for s in src)
    values = ", ".join(s.expr("NEW") for s in src)
    watched = ", ".join(dict.fromkeys(f'"{s.local}"' for s in src))
    updates = ", ".join(f"{s.name} = EXCLUDED.{s.name}" for s in src)
    script = [f'DROP TABLE IF EXISTS "{text}" CASCADE',
              f'CREATE TABLE "{text}" (id INTEGER PRIMARY KEY, {", ".join(f"{s.name} TEXT" for s in src)})',
              f'INSERT INTO "{text}" (id, {names}) SELECT b.id, {", ".join(s.expr("b") for s in src)} FROM "{base}" b']
    script += [f'CREATE INDEX "{text}_{s.name}_trgm" ON "{text}" USING gin ({s.name} gin_trgm_ops)' for s in src]
    script += [
        f'CREATE OR REPLACE FUNCTION "{text}_sync"() RETURNS trigger LANGUAGE plpgsql AS $f$ BEGIN '
        f'IF TG_OP = \'DELETE\' THEN DELETE FROM "{text}" WHERE id = OLD.id; RETURN OLD; END IF; '
        f'INSERT INTO "{text}" (id, {names}) VALUES (NEW.id, {values}) ON CONFLICT (id) DO UPDATE SET {updates}; '
        f'RETURN NEW; END $f$',
        f'DROP TRIGGER IF EXISTS "{text}_sync" ON "{base}"',
        f'CREATE TRIGGER "{text}_sync" AFTER INSERT OR DELETE OR UPDATE OF {watched} ON "{base}" '
        f'FOR EACH ROW EXECUTE FUNCTION "{text}_sync"()']
    for s in src:
        if s.ref_table:
            function = f"{text}_{s.name}_ref"
            script += [
                f'CREATE OR REPLACE FUNCTION "{function}"() RETURNS trigger LANGUAGE plpgsql AS $f$ BEGIN '
                f'UPDATE "{text}" SET {s.name} = CAST(NEW."{s.ref_column}" AS TEXT) '
                f'WHERE id IN (SELECT id FROM "{base}" WHERE "{s.local}" = NEW.id); RETURN NEW; END $f$',
                f'DROP TRIGGER IF EXISTS "{function}" ON "{s.ref_table}"',
                f'CREATE TRIGGER "{function}" AFTER UPDATE OF "{s.ref_column}" ON "{s.ref_table}" '
                f'FOR EACH ROW EXECUTE FUNCTION "{function}"()']
    return script


async def ensure(sheets: list[Sheet] | None = None) -> None:
    """Build the companions whose declaration changed since they were built (a fresh database: all of them)."""
    from tortoise.transactions import in_transaction

    _READY.clear()
    conn = connections.get("default")
    dialect = _dialect()
    await conn.execute_script('CREATE TABLE IF NOT EXISTS engine_text_index (sheet VARCHAR(60) PRIMARY KEY, '
                              'signature VARCHAR(40) NOT NULL)')
    if dialect == "postgres":
        try:
            await conn.execute_script("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        except Exception as exc:  # no pg_trgm here (or no right to add it): the LIKE scans answer
            log.warning("Recherche rapide sans index de texte : pg_trgm indisponible (%s).", exc)
            return
    elif dialect != "sqlite":
        return
    built = {r["sheet"]: r["signature"] for r in await conn.execute_query_dict(
        "SELECT sheet, signature FROM engine_text_index")}
    for sheet in sheets if sheets is not None else [s for s in all_sheets() if s.text_index]:
        if not sources(sheet):
            continue
        signature = _signature(sheet, dialect)
        if built.get(sheet.name) != signature:
            async with in_transaction() as tx:
                script = (_sqlite_drop(sheet) + _sqlite_script(sheet) if dialect == "sqlite"
                          else _postgres_script(sheet))
                for statement in script:
                    await tx.execute_script(statement)
                await tx.execute_query("DELETE FROM engine_text_index WHERE sheet = " +
                                       ("?" if dialect == "sqlite" else "$1"), [sheet.name])
                await tx.execute_query("INSERT INTO engine_text_index (sheet, signature) VALUES " +
                                       ("(?, ?)" if dialect == "sqlite" else "($1, $2)"), [sheet.name, signature])
            log.info("Index de texte de « %s » construit.", sheet.label)
        _READY.add(sheet.name)


def engine_owned(table: str) -> bool:
    """Whether a table is one the engine builds when a database opens (a companion, its FTS5 shadow tables, the
    record of what was built), not one of the models' (the migrations' schema check leaves them out)."""
    return table == "engine_text_index" or any(
        table == table_of(s) or table.startswith(table_of(s) + "_") for s in all_sheets() if s.text_index)


def forget() -> None:
    """Another database opened: nothing is known to be built there yet."""
    _READY.clear()


def _literal(text: str) -> str:
    """An SQL string literal (quotes doubled; the query was cleaned of control characters)."""
    return "'" + text.replace("'", "''") + "'"


def quick_condition(sheet: Sheet, text: str) -> tuple[Q | None, list[Column]]:
    """The quick search of `text` through the text index, on the columns of `sheet` (as the caller sees it), and
    the searchable columns left to the LIKE scans (choices, unindexed paths); (None, all of them) without an index."""
    searchable = [c for c in sheet.columns if c.is_searchable]
    indexed = sources(sheet) if sheet.text_index and sheet.name in _READY else {}
    text = "".join(ch for ch in text if ch.isprintable())
    if not indexed or len(text) < MIN_CHARS:
        return None, searchable
    table = table_of(sheet)
    columns = [indexed[c.field].name for c in searchable if c.field in indexed]
    rest = [c for c in searchable if c.field not in indexed]
    if not columns:
        return None, searchable
    if _dialect() == "sqlite":
        phrase = '"' + text.replace('"', '""') + '"'
        match = _literal("{" + " ".join(columns) + "} : " + phrase)
        sql = f'(SELECT rowid FROM "{table}" WHERE "{table}" MATCH {match})'
    else:
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        where = " OR ".join(f"{c} ILIKE {_literal(pattern)} ESCAPE '\\'" for c in columns)
        sql = f'(SELECT id FROM "{table}" WHERE {where})'
    return Q(id__in=RawSQL(sql)), rest


def _register() -> None:
    from models import db

    if forget not in db.ON_OPEN:
        db.ON_OPEN.append(forget)
    if ensure not in db.AFTER_OPEN:
        db.AFTER_OPEN.append(ensure)


_register()


def describe(sheet: Sheet) -> dict[str, Any]:
    """What the index holds (for the README and the bench)."""
    return {"table": table_of(sheet), "columns": {k: v.name for k, v in sources(sheet).items()}}
