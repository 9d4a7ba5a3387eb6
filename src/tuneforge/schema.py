"""The base of every config section and method's options: strict, finite and bounded.

Unknown keys are errors; ``inf`` and ``nan`` are refused; no number may exceed what the
libraries underneath can take (a batch size of 10**30 would reach torch as an overflow, a
traceback instead of a message).

Example:
    >>> class Section(StrictModel):
    ...     batch_size: int = 32
    >>> Section(batch_size=10**30)   # ValidationError: ... at most 2147483647
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

MAX_INT = 2**31 - 1
MAX_FLOAT = 1e12


def _check_number(value: Any) -> None:
    if isinstance(value, bool):
        return
    if isinstance(value, int) and abs(value) > MAX_INT:
        raise ValueError(f"{value:.3g} is out of range (at most {MAX_INT} in size)")
    if isinstance(value, float) and abs(value) > MAX_FLOAT:
        raise ValueError(f"{value:.3g} is out of range (at most {MAX_FLOAT:g} in size)")


class StrictModel(BaseModel):
    """Base for config sections: unknown keys, non-finite numbers and out-of-range numbers are errors."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)

    @field_validator("*", mode="after")
    @classmethod
    def _bounded_numbers(cls, value: Any) -> Any:
        for item in value if isinstance(value, (list, tuple)) else [value]:
            _check_number(item)
        return value
