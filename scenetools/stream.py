"""The record stream: JSON Lines in, JSON Lines out.

One JSON object per line, one line per image.  Every stage reads records,
adds the fields it owns and writes them on, never dropping a field it did not
write.  See ``docs/records.md`` for the contract.
"""
from __future__ import annotations

import io
import json
import os
import sys
import tempfile
from contextlib import contextmanager
from typing import IO, Iterable, Iterator

from .errors import DataError

#: fields every record leaving ``scene-split`` carries
REQUIRED_FIELDS = ("id", "image", "label", "location", "env", "split")
SPLITS = ("train", "val", "test")


def open_input(path: str | None) -> tuple[IO[str], str]:
    """Open ``path`` for reading text (``-`` or ``None`` is stdin). Returns (file, display name)."""
    if path in (None, "-"):
        return sys.stdin, "<stdin>"
    try:
        return open(path, "r", encoding="utf-8"), path
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror}", where=path) from None


def iter_records(source: IO[str] | str | None, name: str | None = None,
                 require: Iterable[str] = ()) -> Iterator[dict]:
    """Yield the records of a JSON Lines stream.

    A line that is not a JSON object, or that lacks a field named in
    ``require``, raises :class:`DataError` naming the file and line. Blank
    lines are allowed. Each record gets no extra keys: the line number is
    available as ``rec_line`` through :func:`iter_numbered`.
    """
    for _, rec in iter_numbered(source, name, require):
        yield rec


def iter_numbered(source: IO[str] | str | None, name: str | None = None,
                  require: Iterable[str] = ()) -> Iterator[tuple[str, dict]]:
    """Like :func:`iter_records` but yields ``("file:line", record)`` pairs."""
    if source is None or isinstance(source, str):
        fh, name = open_input(source)
        close = fh is not sys.stdin
    else:
        fh, close = source, False
        name = name or getattr(source, "name", "<stream>")
    require = tuple(require)
    try:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            where = f"{name}:{lineno}"
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"not valid JSON ({exc.msg} at column {exc.colno}); "
                                "each line must be one JSON object", where=where) from None
            if not isinstance(rec, dict):
                raise DataError("a record must be a JSON object", where=where)
            missing = [f for f in require if f not in rec]
            if missing:
                raise DataError(f"record {rec.get('id', '?')!s} lacks field(s) {', '.join(missing)}; "
                                "is this the output of scene-split?", where=where)
            yield where, rec
    finally:
        if close:
            fh.close()


def dumps(rec: dict) -> str:
    return json.dumps(rec, ensure_ascii=False, separators=(", ", ": "))


class RecordWriter:
    """Writes records one per line and flushes each, so ``| head`` and ``tail -f`` work."""

    def __init__(self, fh: IO[str]):
        self.fh = fh
        self.count = 0

    def write(self, rec: dict) -> None:
        self.fh.write(dumps(rec) + "\n")
        self.fh.flush()
        self.count += 1

    def write_all(self, recs: Iterable[dict]) -> int:
        for rec in recs:
            self.write(rec)
        return self.count


@contextmanager
def atomic_write(path: str, mode: str = "w", encoding: str | None = "utf-8"):
    """Write ``path`` through a temporary file in the same folder, renamed into place on success."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-" + os.path.basename(path) + "-", dir=folder)
    try:
        with io.open(fd, mode, encoding=None if "b" in mode else encoding) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


@contextmanager
def open_output(path: str | None):
    """A :class:`RecordWriter` on stdout (``None`` or ``-``) or on ``path``, written atomically."""
    if path in (None, "-"):
        yield RecordWriter(sys.stdout)
    else:
        with atomic_write(path) as fh:
            yield RecordWriter(fh)


def write_json(path: str, obj) -> None:
    """Write one JSON document atomically."""
    with atomic_write(path) as fh:
        json.dump(obj, fh, indent=2, ensure_ascii=False)
        fh.write("\n")


def read_jsonl(path: str) -> list[dict]:
    return list(iter_records(path))
