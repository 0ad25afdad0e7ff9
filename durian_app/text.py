"""Every label and message of the page, its style and its one script, from ``assets/`` (beside the code, not in it)."""

from __future__ import annotations

import json
from pathlib import Path

ASSETS = Path(__file__).resolve().parent.parent / "assets"
TEXT = json.loads((ASSETS / "ui_text.json").read_text(encoding="utf-8"))
LABELS, MESSAGES, CHOICES = TEXT["labels"], TEXT["messages"], TEXT["choices"]
INTRO = (ASSETS / "intro.md").read_text(encoding="utf-8")
CSS = (ASSETS / "style.css").read_text(encoding="utf-8")
PAGE_JS = (ASSETS / "page.js").read_text(encoding="utf-8")
