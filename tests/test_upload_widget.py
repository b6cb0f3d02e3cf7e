"""Issue 10: the upload widget of the grid's « Importer » and of the student / teacher lists takes what the bounded
reader takes (.xlsx and .csv, up to sheets.engine.xlsx_read.MAX_FILE_BYTES) and writes the uploaded file and the
refusals' report in a worker thread, never on the event loop that serves every page.

Pages modules are imported inside the tests (the `user` fixture registers them again per test).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from nicegui import ui
from nicegui.elements.upload_files import SmallFileUpload
from nicegui.testing import User

from sheets.engine.importer import ImportReport
from sheets.engine.xlsx_read import MAX_FILE_BYTES
from tests.factories import login, make_school, see


def _upload(user: User) -> Any:
    return next(iter(user.find(ui.upload).elements))


def _accepts(upload: Any) -> tuple[str, int]:
    return upload.props["accept"], upload.props["max-file-size"]


async def test_the_grid_import_takes_xlsx_and_csv_up_to_the_readers_limit_written_off_the_event_loop(
        user: User, monkeypatch: pytest.MonkeyPatch) -> None:
    school = await make_school(name="Lycée Téléversé")
    loop_thread = threading.get_ident()
    writes: list[tuple[str, bool]] = []  # (what, on the event loop)
    original_write_bytes, original_report = Path.write_bytes, ImportReport.write_report

    def write_bytes(self: Path, data: bytes) -> int:
        if self.parent.name.startswith("rentree-upload-"):
            writes.append(("file", threading.get_ident() == loop_thread))
        return original_write_bytes(self, data)

    def write_report(self: ImportReport, target: Any) -> int:
        writes.append(("report", threading.get_ident() == loop_thread))
        return original_report(self, target)

    monkeypatch.setattr(Path, "write_bytes", write_bytes)
    monkeypatch.setattr(ImportReport, "write_report", write_report)
    await login(user, "agent")
    await user.open("/ecoles")
    user.find(kind=ui.button, content="Importer").click()
    await see(user, "Importer un fichier Excel")
    upload = _upload(user)
    assert _accepts(upload) == (".xlsx,.csv", MAX_FILE_BYTES)
    await see(user, "Fichier .xlsx ou .csv (100 Mo au plus)")
    csv = f"UAI;Nom\n{school.uai};Lycée Téléversé renommé\n0750650Z;Inconnu\n".encode()
    await upload.handle_uploads([SmallFileUpload("etablissements.csv", "text/csv", csv)])
    await see(user, "Lignes refusées (1)")
    await see(user, "Télécharger le rapport (.xlsx)")
    assert ("file", False) in writes and ("report", False) in writes
    assert not [w for w in writes if w[1]], f"written on the event loop: {writes}"
    await upload.handle_uploads([SmallFileUpload("notes.txt", "text/plain", b"UAI\n")])
    await see(user, "Fichier refusé : « notes.txt » n'est pas un fichier .xlsx ou .csv.")


async def test_the_student_list_upload_takes_the_same_files(user: User) -> None:
    school = await make_school(name="Lycée Listes")
    await login(user, "agent")
    await user.open(f"/parc/ecoles/{school.uai}")
    user.find(marker="import-siecle").click()
    await see(user, "Base élèves (SIECLE)")
    assert _accepts(_upload(user)) == (".xlsx,.csv", MAX_FILE_BYTES)
