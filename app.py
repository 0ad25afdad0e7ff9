"""The Durian web app: drag-and-drop attribute transfer and portrait animation in the browser.

The entry point only: settings from the environment (and the flags below), the page from ``durian_app``, launch.
Every decision (engine choice, masks, alignment, animation, caching, file formats) lives in ``durian_core``. The
same file runs locally (``python app.py``) and as a Hugging Face Space (README front matter, ``app_file: app.py``).
"""

from __future__ import annotations

import os

# Before gradio is imported: it reads the variable at import time. A user can still opt in by setting it.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import argparse
import threading
from collections.abc import Sequence
from dataclasses import replace

from durian_app.demo import App, build_app
from durian_app.settings import AppSettings


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Run the Durian web app.")
    parser.add_argument("--weights", help="Durian weights: a local folder or a Hub id (default: $DURIAN_WEIGHTS)")
    parser.add_argument("--host", help="address to listen on (default: $GRADIO_SERVER_NAME or 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default: $GRADIO_SERVER_PORT or 7860)")
    return parser.parse_args(argv)


def settings_from(arguments: argparse.Namespace) -> AppSettings:
    """The environment's settings, with what the flags give taking precedence."""
    flags = {"weights": arguments.weights, "host": arguments.host, "port": arguments.port}
    return replace(AppSettings.from_env(), **{name: value for name, value in flags.items() if value is not None})


def serve(app: App) -> None:
    """Launch the page and block (the Space runs this)."""
    app.demo.launch(server_name=app.settings.host, server_port=app.settings.port, **app.launch_options())


def main(argv: Sequence[str] | None = None) -> None:
    from durian_core.face.matting import warm_up
    from durian_core.native_logs import filter_native_logs

    try:
        settings = settings_from(parse_args(argv))
    except ValueError as error:  # a malformed environment variable, named
        raise SystemExit(f"error: {error}") from None
    filter_native_logs()  # before MediaPipe loads: its start-up lines would fill the terminal
    # The matting kernels compile on their first import after an install: meanwhile the page is already served.
    threading.Thread(target=warm_up, name="durian-warm-up", daemon=True).start()
    serve(build_app(settings))


if __name__ == "__main__":
    main()
