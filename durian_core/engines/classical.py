"""The classical engine: landmark-aligned attribute compositing, then landmark-driven mesh warping.

This is the two-stage baseline the paper compares against, and the project's CPU default: the editor
(:mod:`durian_core.engines.editor`) makes the still, the animator (:mod:`durian_core.engines.animator`) moves it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from durian_core.cache import FeatureCache, content_key
from durian_core.config import GenerationSettings
from durian_core.engines.animator import HeadRig
from durian_core.engines.base import Engine
from durian_core.engines.editor import compose_edit, edit_portrait, edit_terms, glasses_overlays, shape_blend
from durian_core.types import PreparedInputs, ProgressCallback, no_progress


class ClassicalEngine(Engine):
    """CPU engine needing no weights. Stateless: the mesh of a portrait and its edits live in the caller's cache."""

    name = "classical"
    streams = True  # renders frame by frame (:meth:`renderer`): a driver of any length costs no memory

    @staticmethod
    def rig(still: np.ndarray, prepared: PreparedInputs, *, cache: FeatureCache) -> HeadRig:
        """The head layer, plate and mesh of an edited still (built once per still and kept in the cache)."""
        key = content_key(still, prepared.portrait_landmarks, prepared.own_hair)
        return cache.get_or_compute("rig", key, lambda: HeadRig.build(still, prepared, cache=cache))

    @staticmethod
    def compose(
        prepared: PreparedInputs, weights: list[float], *, cache: FeatureCache, glasses: bool = True
    ) -> np.ndarray:
        """:func:`compose_edit`, kept in the cache: an α slider only re-blends two cached edits."""
        key = content_key(
            prepared.portrait_key or prepared.portrait,
            tuple(float(weight) for weight in weights),
            tuple(
                (layer.aligned_key or (layer.aligned_image, layer.aligned_mask, layer.kind), layer.from_portrait)
                for layer in prepared.attributes
            ),
            ()
            if prepared.portrait_key
            else tuple((kind, prepared.portrait_masks[kind]) for kind in sorted(prepared.portrait_masks)),
            glasses,
            None if (blend := shape_blend(prepared, weights)) is None else float(blend.alpha),
        )
        return cache.get_or_compute(
            "edits", key, lambda: compose_edit(prepared, weights, glasses=glasses, cache=cache)
        )

    def animate(
        self,
        still: np.ndarray,
        prepared: PreparedInputs,
        *,
        cache: FeatureCache,
        progress: ProgressCallback = no_progress,
    ) -> np.ndarray:
        """Warp the edited still along ``prepared.motion``: F×H×W×3 uint8."""
        rig = self.rig(still, prepared, cache=cache)
        frames = np.empty((len(prepared.motion), *still.shape), np.uint8)
        report_every = max(1, len(frames) // 20)
        driver = prepared.driver_frames
        tracks = prepared.driver_landmarks
        for index, landmarks in enumerate(prepared.motion):
            frames[index] = rig.render(
                landmarks,
                driver_frame=None if driver is None else driver[index],
                driver_landmarks=None if tracks is None else tracks[index],
            )
            if index % report_every == 0:
                progress((index + 1) / len(frames), f"animating frame {index + 1} of {len(frames)}")
        return frames

    def renderer(
        self, prepared: PreparedInputs, settings: GenerationSettings, *, cache: FeatureCache
    ) -> tuple[Callable[..., np.ndarray], dict[str, float]]:
        """What turns one frame's retargeted landmarks (and the driver's frame and landmarks, for the mouth)
        into a work-crop frame; and the seconds the edit and the rig took."""
        timings = {}
        start = time.perf_counter()
        # A hair or hat blend is one edit in between, as in the still: two edits mixed would show a ghost of each.
        terms = edit_terms(prepared)
        overlays = [glasses_overlays(prepared, list(term.weights)) for term in terms]
        if not any(overlays):
            still = edit_portrait(prepared, compose=lambda inputs, weights: self.compose(inputs, weights, cache=cache))
        else:
            # Glasses are rigid: the face warps without them, and each frame puts them back on where the head's
            # similarity takes them (so a blink never bends a rim).
            bases = [self.compose(prepared, list(term.weights), cache=cache, glasses=False) for term in terms]
            still = (
                bases[0]
                if len(bases) == 1
                else np.clip(
                    sum(term.coefficient * base.astype(np.float32) for term, base in zip(terms, bases)) + 0.5, 0, 255
                ).astype(np.uint8)
            )
        timings["edit"] = time.perf_counter() - start
        start = time.perf_counter()
        rig = self.rig(still, prepared, cache=cache)
        timings["rig"] = time.perf_counter() - start

        def render(target: np.ndarray, driver_frame=None, driver_landmarks=None) -> np.ndarray:
            frame = rig.render(target, driver_frame=driver_frame, driver_landmarks=driver_landmarks)
            if not any(overlays):
                return frame
            motion = rig.head_motion(target)
            blended = np.zeros(frame.shape, np.float32)
            for term, glasses in zip(terms, overlays):
                worn = frame.astype(np.float32)
                for overlay, weight in glasses:
                    worn = overlay.apply(worn, weight=weight, matrix=motion)
                blended += term.coefficient * worn
            return np.clip(blended + 0.5, 0, 255).astype(np.uint8)

        return render, timings

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
