"""The result types of the captions services (plain data, no behaviour)."""

from dataclasses import dataclass, field

from captions.models import Batch, Image


@dataclass(frozen=True)
class Refusal:
    filename: str
    reason: str


@dataclass
class SubmitResult:
    accepted: list[Image] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)
    batch: Batch | None = None


class UploadRejected(Exception):
    """The upload as a whole is refused (no file is stored); the message says why."""


@dataclass(frozen=True)
class WorkerRunSummary:
    captioned: int = 0
    reused: int = 0
    failed: int = 0
    retried: int = 0

    def __add__(self, other: "WorkerRunSummary") -> "WorkerRunSummary":
        return WorkerRunSummary(*(a + b for a, b in zip(self.__dict__.values(), other.__dict__.values(), strict=True)))


@dataclass(frozen=True)
class SweepSummary:
    requeued: int
    failed: int
    woke: bool
