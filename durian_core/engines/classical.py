"""The classical engine: landmark-aligned attribute compositing, then landmark-driven mesh warping.

This is the two-stage baseline the paper compares against, and the project's CPU default: the editor
(:mod:`durian_core.engines.editor`) makes the still, the animator (:mod:`durian_core.engines.animator`) moves it.
"""

from __future__ import annotations

import time

import numpy as np

from durian_core.cache import FeatureCache, content_key
from durian_core.config import GenerationSettings
from durian_core.engines.animator import MouthFiller, hair_ring_scale
from durian_core.engines.base import Engine
from durian_core.engines.editor import compose_edit, edit_portrait
from durian_core.face.align import MeshWarp
from durian_core.types import PreparedInputs, ProgressCallback, no_progress


class ClassicalEngine(Engine):
    """CPU engine needing no weights. Stateless: the mesh of a portrait and its edits live in the caller's cache."""

    name = "classical"

    @staticmethod
    def mesh(prepared: PreparedInputs, *, cache: FeatureCache) -> MeshWarp:
        size = prepared.portrait.shape[1::-1]
        ring_scale = hair_ring_scale(prepared)
        key = content_key(prepared.portrait_landmarks, size, ring_scale)
        return cache.get_or_compute(
            "mesh", key, lambda: MeshWarp.build(prepared.portrait_landmarks, size, ring_scale=ring_scale)
        )

    @staticmethod
    def compose(prepared: PreparedInputs, weights: list[float], *, cache: FeatureCache) -> np.ndarray:
        """:func:`compose_edit`, kept in the cache: an α slider only re-blends two cached edits."""
        key = content_key(
            prepared.portrait,
            tuple(float(weight) for weight in weights),
            tuple((layer.aligned_image, layer.aligned_mask, layer.kind) for layer in prepared.attributes),
            tuple((kind, prepared.portrait_masks[kind]) for kind in sorted(prepared.portrait_masks)),
        )
        return cache.get_or_compute("edits", key, lambda: compose_edit(prepared, weights))

    def animate(
        self,
        still: np.ndarray,
        prepared: PreparedInputs,
        *,
        cache: FeatureCache,
        progress: ProgressCallback = no_progress,
    ) -> np.ndarray:
        """Warp the edited still along ``prepared.motion``: F×H×W×3 uint8."""
        mesh = self.mesh(prepared, cache=cache)
        mouth = MouthFiller(still, prepared.portrait_landmarks)
        frames = np.empty((len(prepared.motion), *still.shape), np.uint8)
        report_every = max(1, len(frames) // 20)
        for index, landmarks in enumerate(prepared.motion):
            frames[index] = mouth(mesh.warp(still, mesh.target_points(landmarks)), landmarks)
            if index % report_every == 0:
                progress(index / len(frames), f"animating frame {index + 1} of {len(frames)}")
        return frames

    def generate(
        self,
        prepared: PreparedInputs,
        settings: GenerationSettings,
        *,
        cache: FeatureCache,
        progress: ProgressCallback = no_progress,
    ) -> tuple[np.ndarray, dict[str, float]]:
        timings = {}
        start = time.perf_counter()
        still = edit_portrait(prepared, compose=lambda inputs, weights: self.compose(inputs, weights, cache=cache))
        timings["edit"] = time.perf_counter() - start
        if prepared.motion is None:
            return still[None], timings
        start = time.perf_counter()
        frames = self.animate(still, prepared, cache=cache, progress=progress)
        timings["animate"] = time.perf_counter() - start
        return frames, timings
