"""SPSS exports (.sav, .zsav), read in chunks with pyreadstat.

Numeric answers stay numbers (codes), except in the ``label_columns`` the caller names (the
role, say), whose value labels replace the codes: "Teacher" rather than 1. Codes that SPSS
declares user-missing (99 = "not answered") are read with ``user_missing=True`` so they can be
counted, then set to missing: scored as a number, a 99 would wreck a 1-5 mean.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from typing import Any, BinaryIO, cast

import numpy as np
import pandas as pd
import pyreadstat

from surveys.formats.base import ExportChunk, ExportMetadata, OpenedExport, seekable
from surveys.formats.columns import ColumnWanted, find_column
from surveys.formats.errors import ExportFormatError

__all__ = ["open_sav"]

_DAMAGED = (
    "The SPSS file is damaged or incomplete (was the upload cut short?); "
    "export it again from the survey platform."
)


def _user_missing_mask(values: pd.Series, ranges: list[dict[str, Any]]) -> np.ndarray:
    """Where ``values`` holds a code SPSS declares user-missing (discrete codes are lo == hi)."""
    mask = np.zeros(len(values), dtype=bool)
    if pd.api.types.is_numeric_dtype(values.dtype):
        numbers = values.to_numpy(dtype=float, na_value=np.nan)
        for r in ranges:
            mask |= (numbers >= float(r["lo"])) & (numbers <= float(r["hi"]))
    else:
        for r in ranges:
            mask |= (values == r["lo"]).to_numpy(dtype=bool, na_value=False)
    return mask


def _code_text(code: float) -> str:
    return str(int(code)) if float(code).is_integer() else str(code)


def _labelled(values: pd.Series, labels: dict[Any, str]) -> np.ndarray:
    """Codes replaced by their labels; a code without one is kept as text ("3")."""
    out = np.empty(len(values), dtype=object)
    for i, code in enumerate(values.tolist()):
        if code is None or (isinstance(code, float) and np.isnan(code)):
            out[i] = None
        else:
            out[i] = labels.get(code, _code_text(code) if isinstance(code, float) else code)
    return out


def _plain(values: pd.Series) -> np.ndarray:
    """Text as object arrays (blank is missing), dates as ISO text, numbers as they are."""
    if pd.api.types.is_numeric_dtype(values.dtype):
        return values.to_numpy()
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        return np.array([None if pd.isna(v) else v.isoformat() for v in values], dtype=object)
    out = values.to_numpy(dtype=object, na_value=None).copy()
    for i, v in enumerate(out):
        if isinstance(v, str):
            if not v.strip():
                out[i] = None
        elif isinstance(v, dt.date | dt.datetime | dt.time):
            out[i] = v.isoformat()
        elif isinstance(v, float) and np.isnan(v):
            out[i] = None
    return out


def open_sav(
    stream: BinaryIO, *, chunk_rows: int, label_columns: Iterable[ColumnWanted] = ()
) -> OpenedExport:
    """Read the SPSS dictionary now; return the metadata and an iterator of chunks."""
    source, release = seekable(stream)
    try:
        _, info = pyreadstat.read_sav(cast(Any, source), metadataonly=True, user_missing=True)
    except (pyreadstat.ReadstatError, pyreadstat.PyreadstatError):
        release()
        raise ExportFormatError(_DAMAGED) from None
    except BaseException:
        release()
        raise
    columns = list(info.column_names)
    meta = ExportMetadata(format="sav", columns=columns)
    labelled: dict[str, dict[Any, str]] = {}
    for wanted in label_columns:
        name = find_column(columns, wanted)
        if name is not None and name in info.variable_value_labels:
            labelled[name] = info.variable_value_labels[name]
    source.seek(0)
    return OpenedExport(meta, _chunks(meta, source, info, labelled, chunk_rows), release)


def _chunks(
    meta: ExportMetadata,
    source: BinaryIO,
    info: Any,
    labelled: dict[str, dict[Any, str]],
    chunk_rows: int,
) -> Iterator[ExportChunk]:
    missing_ranges: dict[str, list[dict[str, Any]]] = info.missing_ranges or {}
    first_row = 1
    # pyreadstat reads a file object as well as a path (its stub says path only).
    parts = pyreadstat.read_file_in_chunks(
        pyreadstat.read_sav, cast(Any, source), chunksize=chunk_rows, user_missing=True
    )
    while True:
        try:
            part, _ = next(parts)
        except StopIteration:
            break
        except (pyreadstat.ReadstatError, pyreadstat.PyreadstatError):
            raise ExportFormatError(_DAMAGED) from None
        index = pd.Index(range(first_row, first_row + len(part)), dtype="int64", name="row")
        data: dict[str, pd.Series] = {}
        for name in meta.columns:
            values = part[name]
            if name in missing_ranges:
                mask = _user_missing_mask(values, missing_ranges[name])
                if mask.any():
                    meta.user_missing += int(mask.sum())
                    values = values.mask(mask)
            column = _labelled(values, labelled[name]) if name in labelled else _plain(values)
            # An explicit object dtype keeps text as Python str and None (see ChunkBuilder).
            data[name] = pd.Series(column, index=index, dtype=column.dtype)
        first_row += len(part)
        yield ExportChunk(frame=pd.DataFrame(data, index=index), row_errors=[])
