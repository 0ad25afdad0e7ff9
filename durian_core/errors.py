"""Errors the core raises for bad input.

Every message names what is wrong in words a user understands; the CLI prints it after ``error:`` and the
app shows it as a ``gr.Error``. Subclassing ``ValueError`` keeps the core free of UI imports.
"""


class DurianInputError(ValueError):
    """The user's input cannot be used (no face, unreadable file, image too small, ...)."""


class NoFaceError(DurianInputError):
    """No face was found where one is needed."""


class FaceIndexError(DurianInputError):
    """The photo has fewer faces than the one asked for."""

    def __init__(self, face: int, count: int) -> None:
        self.face, self.count = face, count
        super().__init__(f"{self._faces()}, so there is no face {face}: {self._choice('face')}")

    def message_for(self, option: str) -> str:
        """The same in terms of the option that chose the face (``--face`` on the command line)."""
        return f"{self._faces()}; {self._choice(option)}"

    def _faces(self) -> str:
        return f"the photo has {self.count} face" + ("s" if self.count != 1 else "")

    def _choice(self, what: str) -> str:
        if self.count == 1:
            return f"{what} must be 0"
        return f"{what} must be 0 (the largest) to {self.count - 1}"
