"""Uploaded files: read with a size limit while they arrive (a body over the limit is never stored whole),
kept under ``<runs>/.ui/uploads/`` with a generated name (never the client's path), and checked: a data
file must be one TuneForge reads, an image must decode within the image limits.

Example:
    >>> stored = await receive_upload(request, folder, 50 * 2**20, "file", (".csv", ".jsonl"))
    >>> stored.path.name
    '3f9a1c2b4d5e6f70.csv'
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import TuneForgeError
from .paths import new_token

PART_SIZE = 64 * 1024  # form fields that are not files
DATA_UPLOADS = (".csv", ".tsv", ".jsonl", ".json", ".conll")  # what the data upload forms take


class UploadRefused(TuneForgeError):
    """An upload that is not accepted; ``status`` is the HTTP status to answer with (400, 413, 415 or 422)."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Stored:
    """A received file: where it is kept, the name the client gave (for display only) and its size."""

    path: Path
    client_name: str
    size: int
    fields: dict[str, str] = field(default_factory=dict)  # the form's other (text) fields


async def _limited(stream, max_bytes: int):
    seen = 0
    async for chunk in stream:
        seen += len(chunk)
        if seen > max_bytes:
            raise UploadRefused(f"the upload is over the limit of {max_bytes / 2**20:.0f} MB", 413)
        yield chunk


async def receive_upload(request, folder: Path, max_bytes: int, name: str, suffixes: tuple[str, ...]) -> Stored:
    """The one file of a ``multipart/form-data`` request in form field ``name``, saved in ``folder``.
    Refused: no file, a type not in ``suffixes``, or more than ``max_bytes`` (413, checked from the
    Content-Length header first and while reading)."""
    from starlette.formparsers import MultiPartException, MultiPartParser

    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        raise UploadRefused("send the file as a form upload (multipart/form-data)", 415)
    overhead = 64 * 1024
    try:
        declared = int(request.headers.get("content-length", "0") or 0)
    except ValueError:
        raise UploadRefused("bad Content-Length header", 400) from None
    if declared > max_bytes + overhead:
        raise UploadRefused(f"the upload is over the limit of {max_bytes / 2**20:.0f} MB", 413)
    parser = MultiPartParser(request.headers, _limited(request.stream(), max_bytes + overhead), max_files=1,
                             max_fields=8, max_part_size=PART_SIZE)
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise UploadRefused(f"the upload is not a valid form: {exc.message}", 400) from None
    try:
        upload = form.get(name)
        if upload is None or isinstance(upload, str) or not upload.filename:
            raise UploadRefused("choose a file to upload", 400)
        client_name = Path(str(upload.filename).replace("\\", "/")).name[:200]
        suffix = Path(client_name).suffix.lower()
        if suffix not in suffixes:
            raise UploadRefused(f"{client_name}: not a file type this page takes ({', '.join(suffixes)})", 415)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{new_token()}{suffix}"
        size = 0
        with open(path, "wb") as out:
            while chunk := await upload.read(1 << 20):
                size += len(chunk)
                if size > max_bytes:
                    out.close()
                    path.unlink(missing_ok=True)
                    raise UploadRefused(f"{client_name} is over the limit of {max_bytes / 2**20:.0f} MB", 413)
                out.write(chunk)
        if size == 0:
            path.unlink(missing_ok=True)
            raise UploadRefused(f"{client_name} is empty", 422)
        (folder / f"{path.name}.json").write_text(json.dumps({"client_name": client_name, "size": size}),
                                                  encoding="utf-8")
        texts = {k: v for k, v in form.multi_items() if isinstance(v, str)}
        return Stored(path, client_name, size, texts)
    finally:
        await form.close()


def check_data_upload(stored: Stored) -> None:
    """Refuse (and delete) an upload that TuneForge cannot read as a data file, with the reader's message."""
    from ..data.profile import profile_file

    try:
        profile = profile_file(stored.path)
        if not profile.n_rows:
            raise UploadRefused(f"{stored.client_name}: no rows")
    except UploadRefused:
        forget(stored.path)
        raise
    except TuneForgeError as exc:
        forget(stored.path)
        raise UploadRefused(f"{stored.client_name}: {str(exc).replace(str(stored.path), stored.client_name)}") from None
    except (ValueError, OSError, UnicodeDecodeError, RecursionError) as exc:
        forget(stored.path)
        raise UploadRefused(f"{stored.client_name}: not a data file TuneForge reads ({type(exc).__name__})") from None


def forget(path: Path) -> None:
    """Remove an upload and its record."""
    path.unlink(missing_ok=True)
    path.with_name(path.name + ".json").unlink(missing_ok=True)


def uploads(folder: Path) -> list[tuple[Path, str]]:
    """Stored data uploads (newest first) with the names their clients gave."""
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.iterdir(), key=lambda p: p.stat().st_mtime, reverse=True):
        record = folder / (path.name + ".json")
        if not record.is_file():  # the records themselves, and anything not stored by the UI
            continue
        try:
            client = str(json.loads(record.read_text(encoding="utf-8"))["client_name"])
        except (OSError, ValueError, KeyError, TypeError):
            client = path.name
        found.append((path, client))
    return found
