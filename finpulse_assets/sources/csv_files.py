"""CSV helpers the file sources share.

`read_csv_file` returns strings as found and turns file-level defects into
SourceFileError; `FileCache` keeps parsed files per (path, mtime, size), so a
run that loads many partitions reads each file once.
"""

from __future__ import annotations

import io
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import pandas as pd

from finpulse_assets.sources.base import SourceFileError

T = TypeVar("T")


# A NUL byte ends a field in pandas' C parser (the rest of the body would vanish silently): it is read as
# SUB, a control character that cleaning rejects and counts (`control_character`).
NUL, NUL_STANDIN = b"\x00", b"\x1a"


def read_csv_file(path, required: Sequence[str], name: str | None = None) -> pd.DataFrame:
    """Every column as the string found in the file; SourceFileError for file-level defects.

    `path`: a local path or an open binary file (an object-store body); `name`: what errors call it
    (default: `path`). A file that does not end with a newline (cut inside its last line: a number or a
    quoted field would be stored short) and a quote that never closes are refused with the line."""
    where = name if name is not None else path
    data = _read_bytes(path, where)
    if not data.strip():
        raise SourceFileError(where, "empty file", expected="a CSV with a header row")
    if not data.endswith((b"\n", b"\r")):
        line = data.count(b"\n") + 1
        tail = data.rsplit(b"\n", 1)[-1][-60:].decode("utf-8", "replace")
        raise SourceFileError(where, f"the file ends inside line {line} without a final newline "
                                     f"(last characters {tail!r}): it may have been cut short, and its last value "
                                     "would be stored truncated",
                              expected="a complete copy of the file (if it is complete, add the final newline)")
    data = data.replace(NUL, NUL_STANDIN)
    try:
        frame = pd.read_csv(
            io.BytesIO(data),
            dtype=str,
            # 'NA', 'null' or '' are text here (a tweet can say "NA"); cleaning decides what is missing.
            keep_default_na=False,
            encoding="utf-8",
            # Bad bytes survive as lone surrogates, so cleaning can reject just those rows as invalid_utf8.
            encoding_errors="surrogateescape",
        )
    except pd.errors.EmptyDataError:
        raise SourceFileError(where, "empty file", expected="a CSV with a header row") from None
    except pd.errors.ParserError as exc:
        line = unclosed_quote_line(data)
        if line is not None:
            raise SourceFileError(where, f"unclosed quote: the quoted field that starts on line {line} never "
                                         "closes, so every later line would be read into it",
                                  expected="a closing '\"' on that line (or the field's last line)") from exc
        raise SourceFileError(where, f"unreadable CSV ({str(exc).strip()})") from exc
    if not isinstance(frame.index, pd.RangeIndex):
        # pandas silently turns the surplus leading fields into an index when the
        # first data row is longer than the header (an unquoted comma, say).
        raise SourceFileError(where, "unreadable CSV (data rows have more fields than the header)",
                              expected=f"{len(frame.columns)} fields a row")
    for column in required:
        if column not in frame.columns:
            header = ",".join(map(str, frame.columns))
            hint = ""
            if len(frame.columns) == 1 and any(d in header for d in ";\t|"):
                hint = " (one column: is the file delimited by something other than ','?)"
            raise SourceFileError(where, "missing required column", column=column,
                                  expected="columns " + ", ".join(required) + f"; the header found is {header[:200]!r}{hint}")
    return frame


def _read_bytes(path, where) -> bytes:
    if hasattr(path, "read"):
        return path.read()
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise SourceFileError(where, "file not found") from None
    except OSError as exc:  # a directory in the file's place, no permission, ...
        raise SourceFileError(where, f"cannot read file ({exc.strerror or exc})") from exc


def unclosed_quote_line(data: bytes) -> int | None:
    """The 1-based line where a quoted field opens that never closes (None when every quote closes).

    A doubled quote inside a field toggles twice, so the parity of quotes per line tracks the state."""
    inside, opened = False, None
    for number, line in enumerate(data.split(b"\n"), start=1):
        if line.count(b'"') % 2:
            if not inside:
                opened = number
            inside = not inside
    return opened if inside else None


class FileCache:
    """Values built from files, reused while every file keeps its (path, mtime, size)."""

    def __init__(self, maxsize: int):
        self.maxsize = maxsize
        self._values: OrderedDict[tuple, object] = OrderedDict()

    def get(self, paths: Sequence[Path], build: Callable[[], T]) -> T:
        return self._get(tuple(_file_key(p) for p in paths), build)

    def _get(self, key: tuple, build: Callable[[], T]) -> T:
        if key in self._values:
            self._values.move_to_end(key)
            return self._values[key]  # type: ignore[return-value]
        value = build()
        # A rewritten file leaves a stale entry under its old key; drop it rather than wait for eviction.
        names = tuple(k[0] for k in key)
        for old in [k for k in self._values if tuple(f[0] for f in k) == names]:
            del self._values[old]
        self._values[key] = value
        while len(self._values) > self.maxsize:
            self._values.popitem(last=False)
        return value

    def get_versioned(self, key: tuple, build: Callable[[], T]) -> T:
        """Like `get` for files that are not local: `key` is ((name, version), ...), e.g. an object's key
        and ETag, so an overwritten object is read again."""
        return self._get(tuple(key), build)

    def clear(self) -> None:
        self._values.clear()


def _file_key(path: Path) -> tuple[str, int, int]:
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise SourceFileError(path, "file not found") from None
    return str(path.resolve()), stat.st_mtime_ns, stat.st_size
