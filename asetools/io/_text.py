"""Fast formatting and parsing of the long runs of numbers in volumetric text files."""

from __future__ import annotations

import numpy as np

__all__ = ["format_values", "parse_values"]


def format_values(values: np.ndarray, number_format: str, per_line: int, row_length: int | None = None) -> str:
    """Text of ``values`` (flattened in C order), ``per_line`` numbers to a line.

    With ``row_length``, every row of that many values starts on a new line (the cube layout,
    where each z-row is broken into lines of six); without it the values run on continuously.
    """
    flat = np.ascontiguousarray(values, dtype=np.float64).ravel()
    if flat.size == 0:
        return ""
    row = flat.size if row_length is None else int(row_length)
    if row <= 0 or flat.size % row:
        raise ValueError(f"{flat.size} values do not split into rows of {row_length}")
    full, remainder = divmod(row, per_line)
    row_format = (number_format * per_line + "\n") * full
    if remainder:
        row_format += number_format * remainder + "\n"
    rows = flat.size // row
    # Formatting many rows with one template is several times faster than a loop per value.
    rows_per_block = max(1, 65536 // row)
    pieces = []
    for start in range(0, rows, rows_per_block):
        stop = min(rows, start + rows_per_block)
        pieces.append((row_format * (stop - start)) % tuple(flat[start * row : stop * row].tolist()))
    return "".join(pieces)


def parse_values(text: str, where: str) -> np.ndarray:
    """The whitespace-separated numbers of ``text`` as float64, with an error naming ``where``.

    Fortran-style exponents without the letter E (``1.0-100``) are not accepted.
    """
    try:
        return np.array(text.split(), dtype=np.float64)
    except ValueError as error:
        raise ValueError(
            f"{where}: a value is not a number ({error}); the file is truncated or corrupt"
        ) from error
