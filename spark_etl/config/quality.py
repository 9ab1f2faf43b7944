"""Quality gates: what a load must meet to commit, per entity.

Set under ``quality.<entity>`` in the settings (each deployment its own) or under ``quality:``
in an entity's definition; a key set in both takes the settings' value. Every share is a
fraction of the rows read (0.05 = 5%); above a ``fail_`` share the load is rolled back, above a
``warn_`` share it commits with a warning. No gate is set by default.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from spark_etl.config.types import SQL_IDENTIFIER, Section

# the row-count check compares with the median of at least this many earlier runs
MIN_HISTORY_RUNS = 4
Share = Annotated[float, Field(ge=0, le=1, strict=False)]  # a YAML 0.05 or 1 alike
Extract = Literal["snapshot", "delta"]
# the gates that are a pair of shares, and those that are a pair of {pattern: share} mappings
SHARE_GATES = ("set_aside_share", "row_count_change")
PATTERN_GATES = ("reason_share", "flag_share")


class EntityGates(Section):
    """The gates of one entity's loads, and the kind of extract it is given by default."""

    # snapshot: every row each time; delta: only what changed. The row-count check compares a
    # run with earlier runs of the same kind; --extract on a load wins.
    extract: Extract | None = None
    # rows set aside for breaking a rule (not repeated ids) per row read
    fail_set_aside_share: Share | None = None
    warn_set_aside_share: Share | None = None
    # the same per reject reason: {regular expression over the reason: share}
    fail_reason_share: dict[str, Share] = Field(default_factory=dict)
    warn_reason_share: dict[str, Share] = Field(default_factory=dict)
    # loaded rows with a soft anomaly: {regular expression over the flag: share}
    fail_flag_share: dict[str, Share] = Field(default_factory=dict)
    warn_flag_share: dict[str, Share] = Field(default_factory=dict)
    # rows read against the median of the last quality.history_runs comparable runs, as a
    # share above or below it (0.5: more than half again, or less than half)
    fail_row_count_change: Share | None = None
    warn_row_count_change: Share | None = None

    @field_validator("fail_reason_share", "warn_reason_share", "fail_flag_share", "warn_flag_share")
    @classmethod
    def _patterns(cls, shares: dict[str, float]) -> dict[str, float]:
        for pattern in shares:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"'{pattern}' is not a valid regular expression ({exc})") from None
        return shares

    @model_validator(mode="after")
    def _fail_not_below_warn(self) -> EntityGates:
        problem = self.misordered()
        if problem:
            raise ValueError(problem)
        return self

    def misordered(self) -> str | None:
        """The first gate whose fail share is below its warn share, in words, if any."""
        for gate in SHARE_GATES:
            fail, warn = getattr(self, f"fail_{gate}"), getattr(self, f"warn_{gate}")
            if fail is not None and warn is not None and fail < warn:
                return f"fail_{gate} {fail} is below warn_{gate} {warn}"
        for gate in PATTERN_GATES:
            fails, warns = getattr(self, f"fail_{gate}"), getattr(self, f"warn_{gate}")
            for pattern, fail in fails.items():
                if pattern in warns and fail < warns[pattern]:
                    return (
                        f"fail_{gate}['{pattern}'] {fail} is below "
                        f"warn_{gate}['{pattern}'] {warns[pattern]}"
                    )
        return None

    def over(self, base: EntityGates | None) -> EntityGates:
        """These gates over ``base`` (a definition's): a key set here wins, pattern by pattern
        for the mappings."""
        if base is None:
            return self
        merged = base.model_dump()
        for name, value in self.model_dump(exclude_unset=True).items():
            merged[name] = {**merged[name], **value} if isinstance(value, dict) else value
        # built without validation: the caller checks the order of the merged pairs
        return EntityGates.model_construct(**merged)


class QualitySettings(Section):
    """``quality``: the history the row-count check reads, then one section per entity."""

    model_config = ConfigDict(extra="allow", frozen=True, strict=True)

    # earlier successful runs of the same job and extract kind the row-count check compares
    # with (their median); with fewer than MIN_HISTORY_RUNS of them it does not judge
    history_runs: int = Field(default=7, ge=MIN_HISTORY_RUNS, le=1000)
    __pydantic_extra__: dict[str, EntityGates] = Field(init=False)

    @model_validator(mode="after")
    def _entity_names(self) -> QualitySettings:
        for name in self.model_extra or {}:
            if not SQL_IDENTIFIER.match(name):
                raise ValueError(f"'{name}' is not an entity name (a lower-case identifier)")
        return self

    @property
    def entities(self) -> dict[str, EntityGates]:
        """The gates set per entity name."""
        return dict(self.model_extra or {})
