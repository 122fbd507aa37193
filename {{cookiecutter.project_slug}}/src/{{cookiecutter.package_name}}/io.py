"""Reading and writing the pipeline's files deterministically and atomically.

Every stage writes through these helpers so that the same inputs give the same
bytes (DVC hashes outputs) and an interrupted stage never leaves a half-written
file behind. pandas and SciPy are imported by the functions that need them, so a
stage that only reads JSON and moves files (`promote`) does not pay for them.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .runner import StageError

if TYPE_CHECKING:
    import pandas as pd
    import scipy.sparse as sp

CSR_PARTS = ("data", "indices", "indptr", "shape")
_UMASK = os.umask(0)  # the only way to read the umask is to set it, then restore it
os.umask(_UMASK)


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to `path`, moved onto `path` on success."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp creates 0600; give the file the usual permissions
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_bytes(data: bytes, path: str | os.PathLike) -> None:
    """Write `data` to `path` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def copy_file(source: str | os.PathLike, path: str | os.PathLike) -> None:
    """Copy `source` to `path` byte for byte, atomically, streaming (a 1 GB file never sits in memory)."""
    with atomic_path(path) as tmp:
        shutil.copyfile(source, tmp)


def write_text(text: str, path: str | os.PathLike) -> None:
    """Write UTF-8 text with Unix newlines, atomically."""
    write_bytes(text.encode("utf-8"), path)


def write_json(obj: Any, path: str | os.PathLike) -> None:
    """Write `obj` as indented JSON with a trailing newline."""
    write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", path)


def read_json(path: str | os.PathLike) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def read_csv(path: str | os.PathLike, **kwargs: Any) -> pd.DataFrame:
    """Read a CSV with ids kept as strings and no NA guessing beyond empty cells.

    A file that is not CSV (or not UTF-8, or empty) raises a `StageError` that names it.
    """
    import pandas as pd

    try:
        return pd.read_csv(path, dtype={"id": str, "kb_id": str}, keep_default_na=False, na_values=[""], **kwargs)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        reason = " ".join(str(err).split())
        raise StageError(f"{path} cannot be read as a CSV file: {reason}") from None


def read_csv_chunks(path: str | os.PathLike, columns: list[str], chunk_size: int) -> Iterator[pd.DataFrame]:
    """The `columns` of a CSV, `chunk_size` rows at a time in file order, as text: the file is never read whole.

    Every column is read as text, so a chunk whose texts all look like numbers
    reads the same as any other. A missing column or a file that is not CSV
    raises a `StageError` that names the file.
    """
    import pandas as pd

    options = {"keep_default_na": False, "na_values": [""], "dtype": dict.fromkeys(columns, str)}
    try:
        found = pd.read_csv(path, nrows=0).columns
        missing = [column for column in columns if column not in found]
        if missing:
            raise StageError(f"{path}: missing column(s) {', '.join(missing)} (found: {', '.join(map(str, found))})")
        with pd.read_csv(path, usecols=columns, chunksize=chunk_size, **options) as reader:
            yield from reader
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        reason = " ".join(str(err).split())
        raise StageError(f"{path} cannot be read as a CSV file: {reason}") from None


def write_csv(df: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write a CSV without the index and with Unix newlines, atomically."""
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False, lineterminator="\n")


def write_npy(array: np.ndarray, path: str | os.PathLike) -> None:
    """Save an array as .npy (no pickle), atomically."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.save(f, array, allow_pickle=False)


def write_lines(lines: list[str], path: str | os.PathLike) -> None:
    """One item per line, e.g. the ids that go with the rows of a .npy file."""
    write_text("".join(f"{line}\n" for line in lines), path)


def read_lines(path: str | os.PathLike) -> list[str]:
    return Path(path).read_text(encoding="utf-8").splitlines()


def canonical_csr(matrix: sp.spmatrix) -> sp.csr_matrix:
    """Float32 CSR with sorted indices and one index dtype: the same matrix always has the same bytes."""
    import scipy.sparse as sp

    csr = sp.csr_matrix(matrix, dtype=np.float32)
    csr.sort_indices()
    index_dtype = np.int32 if max(csr.nnz, *csr.shape) < np.iinfo(np.int32).max else np.int64
    csr.indices, csr.indptr = csr.indices.astype(index_dtype), csr.indptr.astype(index_dtype)
    return csr


def write_csr(matrix: sp.csr_matrix, folder: str | os.PathLike) -> None:
    """Save a CSR matrix as .npy files, byte-identical for the same matrix (`save_npz` stamps zip times)."""
    csr = canonical_csr(matrix)
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    for name, array in zip(CSR_PARTS, [csr.data, csr.indices, csr.indptr, np.array(csr.shape, np.int64)], strict=True):
        write_npy(array, out / f"{name}.npy")


def read_csr(folder: str | os.PathLike, mmap: bool = False) -> sp.csr_matrix:
    """Load a matrix saved by `write_csr`; with `mmap`, its arrays are memory-mapped, not read."""
    import scipy.sparse as sp

    mode = "r" if mmap else None
    data, indices, indptr, shape = (np.load(Path(folder) / f"{name}.npy", mmap_mode=mode) for name in CSR_PARTS)
    return sp.csr_matrix((data, indices, indptr), shape=tuple(int(n) for n in shape))
