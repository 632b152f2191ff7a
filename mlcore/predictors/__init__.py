"""Predictors: hf (any transformers image-to-text model), custom (in-house), ensemble."""

from .base import Captioner, RawCandidate

__all__ = ["Captioner", "RawCandidate"]
