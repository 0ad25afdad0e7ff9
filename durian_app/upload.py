"""Uploads that leave judging the file to the core's loaders, so a bad file gets the loader's clear message."""

from __future__ import annotations

import gradio as gr


def pass_any_file(upload: gr.File) -> gr.File:
    """Make a single-file, `type="filepath"` upload hand over any uploaded file as its path.

    The file types it is given only steer the browser's file picker: gradio's own check on the server answers a
    text file with a list of allowed formats, where the app's loaders name the problem ("'notes.txt' is a text
    file, not an image") and read videos by their ending, ``.y4m`` included, which gradio's check does not know.
    (Wrapping the instance rather than subclassing: gradio writes a stub file beside every component subclass.)
    """

    def preprocess(payload):
        if payload is None:
            return None
        files = getattr(payload, "root", None)  # a list of files, of which a single upload has one
        return (files[0] if files else payload).path

    upload.preprocess = preprocess
    return upload
