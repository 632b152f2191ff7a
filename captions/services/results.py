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
    # Wall-clock milliseconds per phase of the cycle, summed over the run: claim, read (storage),
    # decode, preprocess, generate (mlcore's per-image timings), record. Not part of equality.
    timings_ms: dict[str, float] = field(default_factory=dict, compare=False)

    def __add__(self, other: "WorkerRunSummary") -> "WorkerRunSummary":
        counts = {name: getattr(self, name) + getattr(other, name) for name in self.__dataclass_fields__
                  if name != "timings_ms"}
        timings = dict(self.timings_ms)
        for phase, ms in other.timings_ms.items():
            timings[phase] = timings.get(phase, 0.0) + ms
        return WorkerRunSummary(**counts, timings_ms=timings)


@dataclass(frozen=True)
class SweepSummary:
    requeued: int
    failed: int
    woke: bool
