"""Errors the core raises for bad input.

Every message names what is wrong in words a user understands; the CLI prints it after ``error:`` and the
app shows it as a ``gr.Error``. Subclassing ``ValueError`` keeps the core free of UI imports.
"""


class DurianInputError(ValueError):
    """The user's input cannot be used (no face, unreadable file, image too small, ...)."""


class NoFaceError(DurianInputError):
    """No face was found where one is needed."""
