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

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

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


class ParamSpec(StrictModel):
    """One search dimension: ``low``/``high`` (``log`` scale optional) or a list of ``choices``."""

    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    integer: bool = False
    choices: list[Any] | None = None

    @model_validator(mode="after")
    def _range_or_choices(self) -> "ParamSpec":
        if self.choices is not None:
            if self.low is not None or self.high is not None:
                raise ValueError("give either low/high or choices, not both")
            if not self.choices:
                raise ValueError("choices must not be empty")
        elif self.low is None or self.high is None:
            raise ValueError("give low and high, or choices")
        elif self.low >= self.high:
            raise ValueError(f"low ({self.low}) must be below high ({self.high})")
        elif self.log and self.low <= 0:
            raise ValueError("a log-scale range needs low > 0")
        return self
