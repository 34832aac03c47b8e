"""Parks in the database: documents and versions, their data files, and the folder the solver reads.

A park version's time series come from one of two places:

* ``case_folder``: a case folder under the server's ``case_root`` (the
  bundled reference cases). Only its data files are read; the document is
  the version's own.
* ``data_files``: files sent inline (CSV text, or a pandapower JSON), stored
  in the database once per content (``data_files`` table, keyed by SHA-256)
  and referenced by name from the version. The solver reads them from a
  folder unpacked under ``data_dir/files/<hash of the version's file set>/``;
  that folder is only a cache, rebuilt from the database whenever missing.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from microgrid.case import CASE_FILE, park_from_dict
from microgrid.errors import InvalidParkError
from microgrid.messages import Message
from microgrid.park import Park
from microgrid.yaml_text import DuplicateKeyError, load_yaml
from service.api.db import DataFileRow, ParkRow, ParkVersionRow, utc_now
from service.api.problems import Conflict, InvalidInput, NotFound
from service.api.schemas import FILE_NAME_PATTERN
from service.api.settings import Settings

_FILE_NAME = re.compile(FILE_NAME_PATTERN)


def parse_document(park: dict | None, park_yaml: str | None) -> dict[str, Any] | None:
    """The park document from a JSON object or YAML text (None if neither is given)."""
    if park is not None:
        return park
    if park_yaml is None:
        return None
    try:
        document = load_yaml(park_yaml, "park_yaml")
    except DuplicateKeyError as exc:
        field, reason = f"park_yaml.{exc.path}", f"duplicate key (line {exc.line}); give each key once"
        raise InvalidInput(Message("{field}: {reason}", field=field, reason=reason),
                           errors=[{"field": field, "reason": reason}]) from None
    except InvalidParkError as exc:
        reason = str(exc).removeprefix("park_yaml: ")
        raise InvalidInput(Message("park_yaml: {reason}", reason=reason),
                           errors=[{"field": "park_yaml", "reason": reason}]) from None
    if not isinstance(document, dict):
        raise InvalidInput(Message("park_yaml: the top level must be a mapping of sections (site, grid, ...)"),
                           errors=[{"field": "park_yaml", "reason": Message("the top level must be a mapping")}])
    return document


def case_folder_path(settings: Settings, name: str) -> Path:
    """The folder of a case reference, which must lie under ``settings.case_root`` and hold ``park.yaml``."""
    root = settings.case_root.resolve()
    path = (root / name).resolve()
    if not path.is_relative_to(root) or path == root or not (path / CASE_FILE).is_file():
        available = sorted(p.name for p in root.iterdir() if (p / CASE_FILE).is_file()) if root.is_dir() else []
        raise InvalidInput(Message("case_folder: no case {name!r} on this server; use one of {cases}",
                                   name=name, cases=', '.join(available) or '(none)'),
                           errors=[{"field": "case_folder", "reason": Message("no case {name!r} on this server",
                                                                              name=name)}])
    return path


def read_case_document(folder: Path) -> dict[str, Any]:
    """The ``park.yaml`` of a case folder of the server."""
    document = load_yaml((folder / CASE_FILE).read_text(encoding="utf-8"), CASE_FILE)
    if not isinstance(document, dict):
        raise InvalidParkError(Message("{case_file}: the top level must be a mapping of sections (site, grid, ...)",
                                       case_file=CASE_FILE))
    return document


def required_files(park: Park) -> list[str]:
    """The data files a park reads: loads, weather (PV or air-source heat pumps), heat, a network file, the
    hourly grid factor."""
    names = [park.data.loads]
    if park.pv_arrays or any(hp.source == "ambient" for hp in park.heat_pumps.values()):
        names.append(park.data.weather)
    if park.heat_buses:
        names.append(park.data.heat)
    if park.network.pandapower_json:
        names.append(park.network.pandapower_json)
    if park.carbon.grid.hourly_csv is not None:
        names.append(park.carbon.grid.hourly_csv.file)
    return names


def check_data_names(park: Park) -> None:
    """The files a park names are plain relative paths: nothing outside its folder is read."""
    fields = {"data.loads": park.data.loads, "data.weather": park.data.weather, "data.heat": park.data.heat,
              "network.pandapower_json": park.network.pandapower_json,
              "carbon.grid.hourly_csv.file": park.carbon.grid.hourly_csv.file if park.carbon.grid.hourly_csv else None}
    for field, name in fields.items():
        if name is not None and not _FILE_NAME.match(name):
            raise InvalidInput(Message("{field}: {name!r} is not a file name inside the case; use a relative "
                                       "path without '..'",
                                       field=field, name=name),
                               errors=[{"field": field, "reason": Message("not a relative file name")}])


def check_inline_files(park: Park, files: dict[str, str]) -> None:
    """Every file the park names is among ``files``, and every name is a plain relative path."""
    for name in files:
        if not _FILE_NAME.match(name):
            raise InvalidInput(Message("data_files: {name!r} is not a file name; use letters, digits, '_', '-', "
                                       "'.' and '/' between folders",
                                       name=name),
                               errors=[{"field": f"data_files.{name}",
                                        "reason": Message("not a plain relative file name")}])
    missing = [name for name in required_files(park) if name not in files]
    if missing:
        raise InvalidInput(Message("data_files: the park names {missing} but the request does not hold them; add "
                                   "them (file name → content)",
                                   missing=', '.join(missing)),
                           errors=[{"field": "data_files", "reason": Message("missing {name}", name=name)}
                                   for name in missing])


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def files_folder(settings: Settings, session: Session, files: dict[str, str]) -> Path:
    """The folder holding a version's inline files (name → sha256), unpacked from the database if missing."""
    digest = _sha256(json.dumps(files, sort_keys=True))
    folder = settings.data_dir / "files" / digest
    if folder.is_dir():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{digest[:8]}-", dir=folder.parent))
    for name, sha in files.items():
        row = session.get(DataFileRow, sha)
        if row is None:  # pragma: no cover - the foreign data is written in the same transaction
            raise NotFound(Message("data file {name} ({sha}) is missing from the database", name=name, sha=sha))
        target = staging / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(row.content, encoding="utf-8")
    try:
        os.rename(staging, folder)
    except OSError:  # another request unpacked it meanwhile
        for path in sorted(staging.rglob("*"), reverse=True):
            path.rmdir() if path.is_dir() else path.unlink()
        staging.rmdir()
    return folder


def store_files(session: Session, files: dict[str, str]) -> dict[str, str]:
    """Add the contents not yet stored; return name → sha256."""
    refs = {}
    for name, content in files.items():
        sha = _sha256(content)
        if session.get(DataFileRow, sha) is None:
            session.add(DataFileRow(sha256=sha, content=content, size_bytes=len(content.encode("utf-8"))))
        refs[name] = sha
    return refs


def version_folder(settings: Settings, session: Session, version: ParkVersionRow) -> Path:
    """Where the solver reads a park version's data files."""
    if version.case_folder is not None:
        return case_folder_path(settings, version.case_folder)
    return files_folder(settings, session, version.data_files)


def get_park(session: Session, park_id: str) -> ParkRow:
    park = session.get(ParkRow, park_id)
    if park is None:
        raise NotFound(Message("no park {park_id!r}; list the registered parks with GET /parks", park_id=park_id))
    return park


def get_version(session: Session, park_id: str, version: int | None = None) -> ParkVersionRow:
    """A park's version (the current one by default)."""
    park = get_park(session, park_id)
    number = park.current_version if version is None else version
    row = session.scalar(select(ParkVersionRow).where(ParkVersionRow.park_id == park_id,
                                                      ParkVersionRow.version == number))
    if row is None:
        raise NotFound(Message("park {park_id!r} has no version {number}; its current version is "
                               "{current_version}",
                               park_id=park_id, number=number, current_version=park.current_version))
    return row


class PreparedVersion:
    """A validated document with its data source, ready to be checked by a worker and stored."""

    def __init__(self, document: dict, park: Park, case_folder: str | None, files: dict[str, str] | None,
                 folder: Path | None) -> None:
        self.document = document
        self.park = park
        self.case_folder = case_folder
        self.files = files
        self.folder = folder
        self.refs: dict[str, str] | None = None
        """name → sha256 of ``files`` once they are in the database."""


def prepare_version(settings: Settings, session: Session, document: dict | None, case_folder: str | None,
                    data_files: dict[str, str] | None, previous: ParkVersionRow | None = None) -> PreparedVersion:
    """Validate a document (the case loader's checks) and settle where its data come from.

    ``previous`` supplies the data source of an update that gives none, and
    the files an update's ``data_files`` do not replace.
    """
    if case_folder is not None:
        folder = case_folder_path(settings, case_folder)
        document = read_case_document(folder) if document is None else document
    elif data_files is None and previous is not None and previous.case_folder is not None:
        case_folder = previous.case_folder
        folder = case_folder_path(settings, case_folder)
    else:
        folder = None
    park = park_from_dict(document)
    check_data_names(park)
    files = None
    if case_folder is None:
        old = {}
        if previous is not None and previous.case_folder is None:
            old = {name: session.get(DataFileRow, sha).content for name, sha in previous.data_files.items()}
        files = {**old, **(data_files or {})}
        check_inline_files(park, files)
    return PreparedVersion(document, park, case_folder, files, folder)


def folder_for_check(settings: Settings, session: Session, prepared: PreparedVersion) -> Path:
    """The folder a worker checks the data in: the case folder, or the inline files unpacked (stored first)."""
    if prepared.folder is not None:
        return prepared.folder
    prepared.refs = store_files(session, prepared.files)
    session.flush()
    return files_folder(settings, session, prepared.refs)


def add_version(session: Session, park: ParkRow, prepared: PreparedVersion, comment: str | None,
                key_id: int | None) -> ParkVersionRow:
    """Append a version to ``park`` (already in the session) and make it current; committed."""
    number = park.current_version + 1
    if prepared.files is not None and prepared.refs is None:
        prepared.refs = store_files(session, prepared.files)
    row = ParkVersionRow(park_id=park.id, version=number, document=prepared.document,
                         case_folder=prepared.case_folder, data_files=prepared.refs or {},
                         comment=comment, created_by_key_id=key_id, created_at=utc_now())
    park.current_version = number
    park.name = prepared.park.site.name
    park.updated_at = row.created_at
    session.add(row)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise Conflict(Message("park {id!r} changed while this request was processed (another registration or "
                               "update won); read it again and retry",
                               id=park.id),
                       errors=[{"field": "id", "reason": Message("concurrent change")}]) from None
    return row


def check_id_free(session: Session, park_id: str) -> None:
    """409 if ``park_id`` is registered."""
    if session.get(ParkRow, park_id) is not None:
        raise Conflict(Message("park {park_id!r} is already registered; update it with PUT /parks/{park_id}",
                               park_id=park_id),
                       errors=[{"field": "id", "reason": Message("already registered")}])


def new_park(session: Session, park_id: str, prepared: PreparedVersion) -> ParkRow:
    """A park row for ``park_id``; 409 if the id is taken."""
    check_id_free(session, park_id)
    now = utc_now()
    park = ParkRow(id=park_id, name=prepared.park.site.name, current_version=0, created_at=now, updated_at=now)
    session.add(park)
    return park
