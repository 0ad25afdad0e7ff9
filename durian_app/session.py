"""A session's attribute gallery: entries that point at files of the work folder, never at pixels in memory."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from durian_app.text import MESSAGES
from durian_core.cache import content_key, default_cache
from durian_core.errors import DurianInputError
from durian_core.media import load_image, load_mask
from durian_core.types import AttributeFit, AttributeReference


@dataclass(frozen=True)
class AttributeEntry:
    """One attribute in a session's gallery. The pixels live in files of the app's work folder; the session
    keeps only their paths, and the core's bounded cache keeps what is computed from them."""

    image: str  # PNG at the working size
    mask: str  # PNG, white = attribute (the edited layer, or the automatic mask)
    thumbnail: str  # the image with everything outside the mask dimmed, for the gallery
    kind: str
    weight: float
    name: str
    source: str = ""  # the uploaded file it was made from: Generate adds an upload not yet in the gallery
    fit: AttributeFit = field(default_factory=AttributeFit)  # the user's nudge once it is on the portrait

    def keep_alive(self) -> None:
        """Mark the files as in use, so pruning old files spares a session that is still working."""
        try:
            for path in (self.image, self.mask, self.thumbnail):
                os.utime(path)
        except FileNotFoundError as exc:
            raise DurianInputError(MESSAGES["attribute_expired"].format(name=self.name)) from exc

    def caption(self, index: int) -> str:
        moved = "" if self.fit.is_identity else " · fitted"
        return f"{index + 1} · {self.kind} · {self.name} · {self.weight:.0%}{moved}"

    def reference(self) -> AttributeReference:
        self.keep_alive()
        # The files are named by their content, so their paths key the decoded pixels in the core's bounded cache:
        # a tweak then decodes no PNG.
        image, mask = default_cache().get_or_compute("app_layers", content_key(self.image, self.mask), self.decode)
        return AttributeReference(
            image, self.kind, mask=mask, mask_mode="replace", weight=self.weight, name=self.name, fit=self.fit
        )

    def decode(self) -> tuple[np.ndarray, np.ndarray]:
        image = load_image(self.image).rgb
        mask = load_mask(self.mask, size=image.shape[1::-1])
        for shared in (image, mask):  # every session with this attribute reads these arrays: nobody may write
            shared.flags.writeable = False
        return image, mask


Attributes = tuple[AttributeEntry, ...]
