"""Issue 10: every input of the JSON API is validated; a fuzzer over the OpenAPI finds no server error.

Schemathesis (its command line, the stable interface) runs the coverage phase (boundary values, wrong types,
missing fields of every parameter and body) then bounded random fuzzing, positive and negative, with an
administrator's bearer token, against the real app started as a subprocess on demo data. The schema it reads is
the app's own /openapi.json with two narrowings, so that requests reach the engine instead of stopping at « unknown
sheet »: the `{name}` path parameter lists the declared sheets, and filter and sort models name their columns.
The check is `not_a_server_error`: any 5xx fails the test with the request that caused it.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.browser import running_app
from tests.conftest import IN_CI

FILTER_OPERATORS = ["contains", "notContains", "equals", "notEqual", "startsWith", "endsWith", "blank", "notBlank",
                    "lessThan", "lessThanOrEqual", "greaterThan", "greaterThanOrEqual", "inRange", "in"]
# Operations spelt out per sheet (their bodies name columns); the others take any sheet's name.
PER_SHEET = ("/rows", "/cells", "/bulk")
MAX_EXAMPLES = 15  # per operation in the fuzzing phase (each sheet's operations apart): about a minute on two cores


def _st() -> str:
    """The schemathesis command of this environment (a test dependency, see pyproject)."""
    found = shutil.which("st", path=str(Path(sys.executable).parent)) or shutil.which("st")
    if not found:
        message = "schemathesis absent : installez les dépendances de test (pip install -e '.[test]')."
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return found


def _condition_schema() -> dict[str, Any]:
    """An AG Grid filter model: every filter type and operator, operands of any JSON type, combined conditions."""
    kinds = {"filterType": {"enum": ["text", "number", "date", "set", "boolean"]}, "type": {"enum": FILTER_OPERATORS}}
    condition = {"type": "object", "properties": {**kinds, "filter": {}, "dateFrom": {}}}
    return {"type": "object", "properties": {
        **kinds, "filter": {}, "filterTo": {}, "dateFrom": {}, "dateTo": {}, "values": {"type": "array", "maxItems": 5},
        "operator": {"enum": ["AND", "OR"]}, "conditions": {"type": "array", "items": condition, "maxItems": 3}}}


def _narrow_body(schema: dict[str, Any], ref: str, fields: list[str], suffix: str) -> str:
    """A copy of a body's component whose column names are the sheet's own."""
    components = schema["components"]["schemas"]
    name = ref.rsplit("/", 1)[-1]
    body = json.loads(json.dumps(components[name]))
    props = body.get("properties", {})
    columns = {"type": "string", "enum": fields}
    if "filterModel" in props and "startRow" in props:  # rows: filters on the sheet's columns, of any shape (bulk
        # reads its rows through the same filter code: its own filter stays generic, which keeps the run short)
        props["filterModel"] = {"type": "object", "propertyNames": columns, "additionalProperties": _condition_schema(),
                                "maxProperties": 3}
    if "sortModel" in props:
        props["sortModel"] = {"type": "array", "maxItems": 2, "items": {"type": "object", "properties": {
            "colId": columns, "sort": {"enum": ["asc", "desc"]}}, "required": ["colId"]}}
    if "field" in props:  # cells and bulk: one of the sheet's columns, any value
        props["field"] = columns
    if "fields" in props:  # paste
        props["fields"] = {"type": "array", "items": columns, "maxItems": 5}
    if "rows" in props:  # create: rows by the sheet's fields
        props["rows"] = {"type": "array", "minItems": 1, "maxItems": 3,
                         "items": {"type": "object", "propertyNames": columns, "additionalProperties": {}}}
    if "values" in props:  # an action's form
        props["values"] = {"type": "object", "propertyNames": columns, "additionalProperties": {}}
    components[f"{name}_{suffix}"] = body
    return f"#/components/schemas/{name}_{suffix}"


def narrowed_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The app's OpenAPI where each sheet's operations are spelt out with that sheet's columns and actions."""
    from sheets.engine.declaration import all_sheets

    paths: dict[str, Any] = {}
    for path, item in schema["paths"].items():
        if "{name}" in path and not path.endswith(PER_SHEET):  # the others: any declared sheet's name
            for operation in item.values():
                for parameter in operation.get("parameters", []):
                    if parameter["name"] == "name":
                        parameter["schema"] = {"type": "string", "enum": sorted(s.name for s in all_sheets())}
        if "{name}" not in path or not path.endswith(PER_SHEET):
            paths[path] = item
            continue
        for sheet in all_sheets():
            fields = [c.field for c in sheet.columns]
            concrete = json.loads(json.dumps(item))
            for operation in concrete.values():
                operation["operationId"] = f"{operation.get('operationId', path)}_{sheet.name}"
                operation["parameters"] = [p for p in operation.get("parameters", []) if p["name"] != "name"]
                for parameter in operation["parameters"]:
                    if parameter["name"] == "action":
                        parameter["schema"] = {"type": "string", "enum": [a.name for a in sheet.all_actions()]
                                               or ["aucune"]}
                    if parameter["name"] == "filter":  # the export's col=value filters
                        parameter["schema"] = {"type": "array", "maxItems": 3, "items": {
                            "type": "string", "pattern": f"^({'|'.join(fields)})=.{{0,12}}$"}}
                    if parameter["name"] == "sort":
                        parameter["schema"] = {"type": "string", "pattern": f"^({'|'.join(fields)})(:(asc|desc))?$"}
                content = operation.get("requestBody", {}).get("content", {}).get("application/json")
                if content and "$ref" in content["schema"]:
                    content["schema"] = {"$ref": _narrow_body(schema, content["schema"]["$ref"], fields, sheet.name)}
            paths[path.replace("{name}", sheet.name)] = concrete
    schema["paths"] = paths
    return schema


async def _admin_token(data_dir: Path) -> str:
    """An administrator (with TOTP, as R-SEC-1 requires) and an API token, in the app's database before it starts."""
    from models import db
    from models.accounts import create_token
    from tests.factories import make_account

    await db.init(f"sqlite://{data_dir}/app.sqlite3")
    try:
        account = await make_account("admin", email="fuzz@essai.iledefrance.fr")
        _token, secret = await create_token(account, "schemathesis")
    finally:
        await db.close()
    return secret


def test_the_api_answers_every_fuzzed_request_without_a_server_error(isolated_settings: Path,
                                                                       tmp_path: Path) -> None:
    """Issue 10: a schemathesis run over the OpenAPI with an admin token reports 0 server errors."""
    st = _st()
    data_dir = isolated_settings
    data_dir.mkdir(parents=True, exist_ok=True)
    secret = asyncio.run(_admin_token(data_dir))
    report = tmp_path / "report.json"
    env = {"DATABASE_URL": f"sqlite://{data_dir}/app.sqlite3", "SEED_DEMO": "true"}
    with running_app(data_dir, env, timeout=120) as url:
        ask = urllib.request.Request(url + "/openapi.json", headers={"Authorization": f"Bearer {secret}"})
        with urllib.request.urlopen(ask, timeout=10) as response:
            schema = narrowed_schema(json.loads(response.read()))
        schema_file = tmp_path / "openapi.json"
        schema_file.write_text(json.dumps(schema), encoding="utf-8")
        command = [st, "run", str(schema_file), "--url", url, "--header", f"Authorization: Bearer {secret}",
                   "--checks", "not_a_server_error", "--phases", "coverage,fuzzing", "--mode", "all",
                   "--max-examples", str(MAX_EXAMPLES), "--seed", "10", "--workers", "1", "--no-shrink",
                   "--request-timeout", "30", "--suppress-health-check", "all", "--warnings", "off",
                   "--report", "json", "--report-json-path", str(report), "--continue-on-failure"]
        run = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=tmp_path,
                             env={**os.environ, "SCHEMATHESIS_HOOKS": "", "NO_COLOR": "1"})
    output = (run.stdout + run.stderr)[-15000:]
    assert report.is_file(), output
    summary = json.loads(report.read_text(encoding="utf-8"))
    assert summary["operations"]["tested"] >= 40, output  # every operation, each sheet's apart, was exercised
    assert summary["test_cases"]["generated"] >= 2000, output
    assert not summary["errors"], output  # the fuzzer itself ran to the end
    assert summary["test_cases"]["with_failures"] == 0 and run.returncode == 0, output  # 0 server errors
