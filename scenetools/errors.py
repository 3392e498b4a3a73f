"""Errors that commands turn into one-line messages and exit codes."""
from __future__ import annotations


class SceneError(Exception):
    """Base class: an expected failure with a message meant for the user."""

    exit_code = 1

    def __init__(self, message: str, where: str | None = None):
        super().__init__(message)
        self.message = message
        self.where = where

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message


class DataError(SceneError):
    """Bad input data: a file, line or record that cannot be used (exit 1)."""


class SetupError(SceneError):
    """Something the machine lacks: weights, a package, a device (exit 1)."""


class BadUsage(SceneError):
    """Options that contradict each other or the data (exit 2)."""

    exit_code = 2


class Skips:
    """Counts per-record problems turned into skips by ``--on-error skip``.

    ``policy`` is ``"fail"`` (raise the first problem) or ``"skip"`` (count it,
    report a summary at the end). Nothing is dropped silently.
    """

    def __init__(self, policy: str = "fail"):
        if policy not in ("fail", "skip"):
            raise BadUsage(f"--on-error must be fail or skip, not {policy!r}")
        self.policy = policy
        self.reasons: dict[str, int] = {}
        self.examples: dict[str, str] = {}

    def problem(self, err: SceneError, reason: str) -> None:
        if self.policy == "fail":
            raise err
        self.reasons[reason] = self.reasons.get(reason, 0) + 1
        self.examples.setdefault(reason, str(err))

    @property
    def total(self) -> int:
        return sum(self.reasons.values())

    def summary(self) -> str:
        if not self.reasons:
            return ""
        parts = [f"{n} {r} (first: {self.examples[r]})" for r, n in sorted(self.reasons.items())]
        return f"skipped {self.total} record(s): " + "; ".join(parts)
