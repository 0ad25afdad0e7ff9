"""Image uploads that leave judging the file to the core loader, so a bad file gets the loader's clear message."""

from __future__ import annotations

import gradio as gr
import PIL.Image


def pass_unreadable_files(image: gr.Image) -> gr.Image:
    """Make a `type="filepath"` image upload hand over any uploaded file as its path, even one PIL cannot open.

    Gradio's own preprocessing opens the upload with PIL and fails with a generic error on a text file or a
    truncated JPEG; the app's loader names the problem ("'notes.jpg' is a text file, not an image") instead.
    (Wrapping the instance rather than subclassing: gradio writes a stub file beside every component subclass.)
    """
    stock = image.preprocess

    def preprocess(payload):
        try:
            return stock(payload)
        except (PIL.UnidentifiedImageError, OSError, ValueError):
            if payload is None or payload.path is None:
                raise
            return payload.path

    image.preprocess = preprocess
    return image
