"""The Durian web app: drag-and-drop attribute transfer and portrait animation in the browser.

The entry point only: settings from the environment (and the flags below), the page from ``durian_app``, launch;
SIGTERM stops it as Ctrl-C does, removing its work folder.
Every decision (engine choice, masks, alignment, animation, caching, file formats) lives in ``durian_core``. The
same file runs locally (``python app.py``) and as a Hugging Face Space (README front matter, ``app_file: app.py``).
"""

from __future__ import annotations

import os

# Before gradio is imported: it reads the variable at import time. A user can still opt in by setting it.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import argparse
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import NoReturn

from durian_app.demo import App, build_app
from durian_app.memory import limit_arenas
from durian_app.settings import AppSettings
from durian_app.shutdown import TerminateLikeInterrupt
from durian_app.workdir import WorkDir


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
    """Launch the page and block (the Space runs this) until Ctrl-C, or SIGTERM raised as one; then shut gradio
    down, which deletes the files it cached for the page (uploads and results)."""
    app.demo.launch(
        server_name=app.settings.host,
        server_port=app.settings.port,
        prevent_thread_lock=True,
        **app.launch_options(),
    )
    try:
        while app.demo.is_running:
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        # Ends the pages' heartbeats first: gradio's own Ctrl-C handling waits for them in vain, and its server
        # then never reaches the shutdown that deletes its cached files.
        app.demo.close()


def refuse(error: Exception) -> NoReturn:
    """A setting the app cannot start with: one line naming it, exit status 2 (as for a bad flag)."""
    sys.stderr.write(f"error: {error}\n")
    raise SystemExit(2)


def work_folder_or_refuse(settings: AppSettings) -> WorkDir:
    """The app's work folder, which also holds gradio's cache unless ``GRADIO_TEMP_DIR`` names another place (so
    stopping removes every file the page made); the app stops with one line when the folder cannot be made."""
    try:
        work = WorkDir(parent=settings.work_dir)
    except ValueError as error:
        refuse(error)
    # Read by gradio when the page is built and launched, not when it is imported.
    os.environ.setdefault("GRADIO_TEMP_DIR", str(work.path / "gradio"))
    return work


def main(argv: Sequence[str] | None = None) -> None:
    """Serve the page until Ctrl-C or SIGTERM; either way the app's work folder and gradio's cached files go."""
    from durian_core.face.matting import warm_up
    from durian_core.native_logs import filter_native_logs

    try:
        settings = settings_from(parse_args(argv))
    except ValueError as error:  # a malformed environment variable, named
        refuse(error)
    filter_native_logs()  # before MediaPipe loads: its start-up lines would fill the terminal
    limit_arenas()  # before the server's threads start: each arena would keep what its threads freed
    with TerminateLikeInterrupt() as stop:
        work = work_folder_or_refuse(settings)
        try:
            app = build_app(settings, work=work)
            # The matting kernels compile on their first import after an install: meanwhile the page is served.
            threading.Thread(target=warm_up, name="durian-warm-up", daemon=True).start()
            serve(app)
        except KeyboardInterrupt:  # while the page was being built: nothing of gradio's to shut down
            pass
    work.remove()
    stop.end_if_terminated()


if __name__ == "__main__":
    main()
