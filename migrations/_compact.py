"""Put a migration written by `tortoise makemigrations` in the compact form of this folder (run by
`python app.py makemigration <name>`; files starting with `_` are not migrations for Tortoise's loader)."""

from __future__ import annotations

import re
from pathlib import Path

_CLASS = re.compile(r"class Migration\(migrations\.Migration\):\n(?:    dependencies = \[\('models', '([^']+)'\)\]\n\n)?"
                    r"    initial = (True|False)\n\n    operations = \[\n(.*)\n    \]\n?$", re.S)


def compact(path: Path) -> bool:
    """Rewrite one generated migration file as `Migration = migration(PREVIOUS, [operations])`; False if not one."""
    text = path.read_text(encoding="utf-8")
    found = _CLASS.search(text)
    if found is None:
        return False
    previous, initial, body = found.groups()
    body = "\n".join(line[4:] if line.startswith("    ") else line for line in body.split("\n"))
    call = f"Migration = migration({previous!r}, [\n{body}\n]" + (", initial=True)\n" if initial == "True" else ")\n")
    text = text[:found.start()] + call
    path.write_text(text.replace("from tortoise import migrations\n", "from migrations import migration\n", 1),
                    encoding="utf-8")
    return True
