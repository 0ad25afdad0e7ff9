"""The interface both engines implement. The types they consume and return live in :mod:`durian_core.types`."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from durian_core.cache import FeatureCache
from durian_core.config import GenerationSettings
from durian_core.types import PreparedInputs, ProgressCallback, no_progress


class Engine(ABC):
    """Turns prepared inputs into frames. Stateless per request: safe to share between users.

    The cache an engine may keep intermediate results in (a warp mesh, an edit, reference encodings) is passed with
    every call, so one loaded engine serves callers with different caches.
    """

    name: str

    @abstractmethod
    def generate(
        self,
        prepared: PreparedInputs,
        settings: GenerationSettings,
        *,
        cache: FeatureCache,
        progress: ProgressCallback = no_progress,
    ) -> tuple[np.ndarray, dict[str, float]]:
        """Return ``(frames, timings)``: F×H×W×3 uint8 frames (F = 1 for a still edit) and seconds per stage."""
