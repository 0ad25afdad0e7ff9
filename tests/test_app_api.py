"""The app driven through its named API endpoints, as a script or another Space would use it.

One server is launched in-process per module (the ``app_server`` fixture of ``conftest.py``) on a free port of
127.0.0.1; each test talks to it with ``gradio_client``. The drivers are cut to one second to keep the suite quick.
"""

from __future__ import annotations

import faulthandler
import os
import queue
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait as wait_for_futures
from pathlib import Path

import httpx
import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from gradio_client.utils import Status
from helpers import EXAMPLES, ROOT, UPLOAD_LIMIT, free_port, write_sine_wav

from durian_core.media import load_image, load_video, probe_video, write_image, write_video


@pytest.fixture(scope="module")
def server(app_server) -> str:
    return app_server.url


def new_client(url: str) -> Client:
    """One client is one browser session: its own gallery of attributes."""
    return Client(url, verbose=False, download_files=True)


def add_attribute(client: Client, path: Path, kind: str, *, weight: float = 1.0):
    return client.predict(
        attribute_file=handle_file(str(path)), kind=kind, mask=None, weight=weight, api_name="/add_attribute"
    )


def generate(client: Client, portrait: Path | None, *, driver: Path | None, **settings):
    """Calls ``/generate``; returns (still path, video path or None, download path, status).

    The still is the "after" half of the before/after comparison; the gallery the call also returns is dropped.
    """
    options = {
        "blend_first": None,
        "blend_second": None,
        "max_seconds": 1,
        "motion": "video" if driver is not None else "still",
        **settings,
    }
    compare, video, download, status, _gallery = client.predict(
        portrait=handle_file(str(portrait)) if portrait is not None else None,
        driver=handle_file(str(driver)) if driver is not None else None,
        api_name="/generate",
        **options,
    )
    # The video box and the download button are shown (or hidden) by updates that carry their file.
    video, download = (value["value"] if isinstance(value, dict) else value for value in (video, download))
    return compare[1], video, download, status


def preview_pair(client: Client, portrait: Path, **settings) -> tuple[np.ndarray, np.ndarray]:
    """The before/after pair of ``/preview``: the portrait as shown and its edited still."""
    options = {"blend_first": None, "blend_second": None, "alpha": 0.5, **settings}
    (before, after), _status = client.predict(portrait=handle_file(str(portrait)), api_name="/preview", **options)
    return load_image(before).rgb, load_image(after).rgb


def preview(client: Client, portrait: Path, **settings) -> np.ndarray:
    """The edited still of ``/preview`` (the "after" of its before/after pair)."""
    return preview_pair(client, portrait, **settings)[1]


@pytest.fixture(scope="module")
def talking_driver(tmp_path_factory, carphone_path) -> Path:
    """The talking-face clip's first 2 s with a synthesized tone as its sound track."""
    from moviepy import AudioFileClip, VideoFileClip

    folder = tmp_path_factory.mktemp("driver")
    tone = write_sine_wav(folder / "tone.wav", seconds=2.0)
    target = folder / "talking.mp4"
    with VideoFileClip(str(carphone_path)) as video, AudioFileClip(str(tone)) as audio:
        clip = video.subclipped(0, 2.0).with_audio(audio)
        clip.write_videofile(str(target), codec="libx264", audio_codec="aac", logger=None)
    assert probe_video(target)["has_audio"]
    return target


@pytest.fixture(scope="module")
def portraits(tmp_path_factory) -> dict[str, Path]:
    """Four different portraits: three people and a mirrored astronaut."""
    folder = tmp_path_factory.mktemp("portraits")
    mirrored = np.ascontiguousarray(load_image(EXAMPLES / "portraits" / "astronaut.jpg").rgb[:, ::-1])
    return {
        "astronaut": EXAMPLES / "portraits" / "astronaut.jpg",
        "obama": EXAMPLES / "portraits" / "obama.jpg",
        "biden": EXAMPLES / "portraits" / "biden.jpg",
        "mirrored": write_image(mirrored, folder / "mirrored.png"),
    }


def test_portrait_hair_and_talking_driver_give_an_mp4_with_its_frames_and_audio(server, talking_driver):
    client = new_client(server)
    add_attribute(client, EXAMPLES / "portraits" / "biden.jpg", "hair")
    still, video, download, status = generate(
        client, EXAMPLES / "portraits" / "astronaut.jpg", driver=talking_driver, max_seconds=1
    )

    expected_frames = len(load_video(talking_driver, max_seconds=1).frames)
    info = probe_video(video)
    assert Path(video).suffix == ".mp4" and Path(download).suffix == ".mp4"
    assert info["frames"] == expected_frames
    assert info["has_audio"], "the driver's sound must reach the result"
    assert info["codec"] == "h264" and info["pix_fmt"] == "yuv420p"  # plays in browsers
    assert "classical" in status and "animate" in status and "encode" in status
    assert load_image(still).rgb.shape == (512, 512, 3)


def test_still_edit_returns_an_image_with_the_new_hair(server):
    client = new_client(server)
    add_attribute(client, EXAMPLES / "portraits" / "biden.jpg", "hair")
    portrait = EXAMPLES / "portraits" / "astronaut.jpg"
    still, video, download, status = generate(client, portrait, driver=None)

    assert video is None
    assert Path(download).suffix == ".png"
    edited = load_image(still).rgb
    original = load_image(portrait).rgb
    assert edited.shape == original.shape
    changed = np.abs(edited.astype(int) - original).max(axis=-1) > 40
    assert 0.02 < changed.mean() < 0.6, "the hair changes, the rest of the portrait does not"
    assert "edit" in status


def test_alpha_tweak_changes_the_preview_and_recomputes_nothing(server, carphone_path):
    client = new_client(server)
    portrait = EXAMPLES / "portraits" / "astronaut.jpg"
    add_attribute(client, EXAMPLES / "portraits" / "biden.jpg", "hair")
    add_attribute(client, EXAMPLES / "portraits" / "obama.jpg", "hair")
    blend = {"blend_first": 0, "blend_second": 1}
    generate(client, portrait, driver=carphone_path, alpha=0.0, **blend)
    before = client.predict(api_name="/cache_stats")

    first = preview(client, portrait, alpha=0.0, **blend)
    second = preview(client, portrait, alpha=1.0, **blend)
    generate(client, portrait, driver=carphone_path, alpha=1.0, motion_multiplier=0.5, **blend)
    after = client.predict(api_name="/cache_stats")

    assert np.abs(first.astype(int) - second).mean() > 1.0, "α must change the preview"
    for namespace in ("landmarks", "masks", "motion"):
        assert after[namespace]["hits"] > before[namespace]["hits"], namespace
        assert after[namespace]["misses"] == before[namespace]["misses"], f"{namespace} was recomputed"


def test_four_clients_at_once_each_get_their_own_portrait_back(server, portraits, carphone_path):
    results: dict[str, tuple] = {}
    errors: list[BaseException] = []

    def session(name: str, portrait: Path) -> None:
        try:
            client = new_client(server)
            add_attribute(client, EXAMPLES / "attributes" / "glasses_obama.png", "glasses")
            results[name] = generate(client, portrait, driver=carphone_path, max_seconds=1)
        except BaseException as exc:  # collected and re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=session, args=item) for item in portraits.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    if any(thread.is_alive() for thread in threads):
        faulthandler.dump_traceback(all_threads=True)  # where a stuck generation waits, for the log
        raise AssertionError("a session got no answer within 300 s")

    assert not errors, errors
    originals = {name: load_image(path).rgb.astype(int) for name, path in portraits.items()}
    for name, (still, video, _download, _status) in results.items():
        edited = load_image(still).rgb
        distances = {other: np.abs(edited - image).mean() for other, image in originals.items()}
        assert min(distances, key=distances.get) == name, distances
        assert probe_video(video)["frames"] == 30
    assert len(results) == 4


def test_bad_inputs_get_clear_messages_and_the_server_keeps_working(server, tmp_path, no_face_image):
    client = new_client(server)
    add_attribute(client, EXAMPLES / "portraits" / "biden.jpg", "hair")
    portrait = EXAMPLES / "portraits" / "astronaut.jpg"

    no_face = write_image(no_face_image, tmp_path / "gradient.png")
    with pytest.raises(AppError, match="no face found"):
        generate(client, no_face, driver=None)

    corrupt = tmp_path / "broken.mp4"
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40)
    with pytest.raises(AppError, match="cannot read video 'broken.mp4'"):
        generate(client, portrait, driver=corrupt)

    text_as_image = tmp_path / "notes.jpg"
    text_as_image.write_text("these are notes, not a photo\n" * 20)
    with pytest.raises(AppError, match="'notes.jpg' is a text file, not an image"):
        generate(client, text_as_image, driver=None)

    text_file = tmp_path / "notes.txt"
    text_file.write_text("plain text")
    with pytest.raises(AppError, match="'notes.txt' is a text file, not an image"):
        generate(client, text_file, driver=None)

    oversized = tmp_path / "huge.png"
    oversized.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * (UPLOAD_LIMIT + 1024))
    with pytest.raises(ValueError, match="exceeds the maximum file size"):  # the client reads the server's limit
        generate(client, oversized, driver=None)
    refused = httpx.post(f"{server}/gradio_api/upload", files={"files": ("huge.png", oversized.read_bytes())})
    assert refused.status_code == 413, "the server itself refuses the upload, whatever the client does"

    with pytest.raises(AppError, match="no face found"):
        add_attribute(client, no_face, "hair")

    still, _video, _download, status = generate(client, portrait, driver=None)
    assert load_image(still).rgb.shape == (512, 512, 3) and "classical" in status


def test_serves_examples_but_no_other_file_of_the_checkout(server):
    def status_of(path: Path) -> int:
        try:
            with urllib.request.urlopen(f"{server}/gradio_api/file={path}") as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code

    assert status_of(EXAMPLES / "portraits" / "astronaut.jpg") == 200
    assert status_of(ROOT / "app.py") in (403, 404)
    assert status_of(ROOT / "durian_core" / "config.py") in (403, 404)


def test_a_running_generation_can_be_stopped_and_the_next_one_runs(server, carphone_path):
    client = new_client(server)
    add_attribute(client, EXAMPLES / "portraits" / "biden.jpg", "hair")
    job = client.submit(
        portrait=handle_file(str(EXAMPLES / "portraits" / "astronaut.jpg")),
        driver=handle_file(str(carphone_path)),
        motion="video",
        max_seconds=20,
        output_size=1024,  # long enough to be caught running
        blend_first=None,
        blend_second=None,
        api_name="/generate",
    )
    with ThreadPoolExecutor(max_workers=1) as waiter:
        first_report = waiter.submit(next, job).result(timeout=120)  # the first thing the generation yields
    assert not job.done() and "Working:" in first_report[3], "the generation reports its progress while it runs"

    job.cancel()
    assert job.status().code == Status.CANCELLED
    wait_for_futures([job.future], timeout=120)
    for thread in threading.enumerate():
        if thread.name == "durian-generate":
            thread.join(timeout=120)
    assert not any(thread.name == "durian-generate" for thread in threading.enumerate()), "the work itself ended"

    still, _video, _download, status = generate(client, EXAMPLES / "portraits" / "astronaut.jpg", driver=None)
    assert "classical" in status and load_image(still).rgb.shape == (512, 512, 3)


def test_gallery_lists_attributes_by_caption_and_removes_the_selected_one(server):
    client = new_client(server)
    add_attribute(client, EXAMPLES / "portraits" / "biden.jpg", "hair")
    gallery, first, _second, _weight, *_fit = add_attribute(
        client, EXAMPLES / "attributes" / "glasses_obama.png", "glasses"
    )
    assert [item["caption"] for item in gallery] == [
        "1 · hair · biden.jpg · 100%",
        "2 · glasses · glasses_obama.png · 100%",
    ]
    assert [value for _label, value in first["choices"]] == [0, 1]

    portrait = EXAMPLES / "portraits" / "astronaut.jpg"
    with pytest.raises(AppError, match="^interpolation needs two attributes of one kind"):
        preview(client, portrait, blend_first=0, blend_second=1)
    preview(client, portrait, blend_first=0, blend_second=None)  # half picked: the preview shows no blend yet
    with pytest.raises(AppError, match="^Pick both attributes to blend, or neither"):
        generate(client, portrait, driver=None, blend_first=0, blend_second=None)

    gallery, *_ = client.predict(api_name="/remove_attribute")  # the selection is the attribute added last
    assert [item["caption"] for item in gallery] == ["1 · hair · biden.jpg · 100%"]


def test_python_app_py_serves_the_page_where_the_environment_says_and_keeps_native_chatter_off(tmp_path):
    port = free_port()
    env = {**os.environ, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port), "PYTHONUNBUFFERED": "1"}
    env.pop("GRADIO_ANALYTICS_ENABLED", None)  # the app turns analytics off by itself
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "app.py")], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True)
    reader.start()
    try:
        log = read_until(lines, "Running on local URL", timeout_s=180)
        config = httpx.get(f"http://127.0.0.1:{port}/config", timeout=30).json()
        assert config["analytics_enabled"] is False
        assert config["title"].startswith("Durian")

        # Checking a portrait loads MediaPipe and runs its face models: what used to fill the terminal.
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        portrait = handle_file(str(EXAMPLES / "portraits" / "obama.jpg"))
        _preview, picker = client.predict(portrait=portrait, api_name="/portrait")
        assert picker["visible"] is False
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    reader.join(timeout=30)
    log += "".join(iter_queue(lines))
    for chatter in ("XNNPACK delegate", "absl::InitializeLog", "inference_feedback_manager", "W0000"):
        assert chatter not in log, f"the terminal shows MediaPipe's start-up lines:\n{log[-2000:]}"


def read_until(lines: queue.Queue, marker: str, *, timeout_s: float) -> str:
    """The output lines up to and including the first that contains ``marker``, as they arrive."""
    seen = []
    while not seen or marker not in seen[-1]:
        try:
            seen.append(lines.get(timeout=timeout_s))
        except queue.Empty:
            raise AssertionError(f"no {marker!r} within {timeout_s} s:\n{''.join(seen)[-2000:]}") from None
    return "".join(seen)


def iter_queue(lines: queue.Queue):
    while True:
        try:
            yield lines.get_nowait()
        except queue.Empty:
            return


def test_a_weight_tweak_changes_the_preview_from_the_cache(server):
    client = new_client(server)
    portrait = EXAMPLES / "portraits" / "obama.jpg"
    add_attribute(client, EXAMPLES / "attributes" / "makeup_biden.png", "makeup")
    bare, full = preview_pair(client, portrait)
    before = client.predict(api_name="/cache_stats")

    gallery, *_ = client.predict(weight=0.3, api_name="/set_weight")  # the attribute added last
    faint = preview(client, portrait)
    after = client.predict(api_name="/cache_stats")

    assert gallery[0]["caption"].endswith("30%")
    painted = np.abs(full.astype(int) - bare).sum(axis=2) > 12  # where the full makeup shows
    assert painted.mean() > 0.005, "the full makeup must show on the lips and lids"
    strength = np.abs(faint.astype(int) - bare)[painted].mean() / np.abs(full.astype(int) - bare)[painted].mean()
    assert 0.1 < strength < 0.6, f"makeup at 30 % shows {strength:.0%} of the full change"
    for namespace in ("landmarks", "masks", "aligned"):
        assert after[namespace]["misses"] == before[namespace]["misses"], f"{namespace} was recomputed"


def test_an_empty_page_names_the_missing_portrait_and_an_unadded_upload_is_used(server):
    client = new_client(server)
    compare, video, download, status, _gallery = client.predict(
        portrait=None, driver=None, motion="video", blend_first=None, blend_second=None, api_name="/generate"
    )
    assert status == "Upload a portrait first (the face to edit)."
    skipped = {"__type__": "update"}  # the outputs are left as they are: no error on any of them
    assert compare == skipped and video == skipped and download == skipped

    portrait = EXAMPLES / "portraits" / "astronaut.jpg"
    glasses = EXAMPLES / "attributes" / "glasses_obama.png"
    (before, after), video, download, status, gallery = client.predict(
        portrait=handle_file(str(portrait)),
        attribute_file=handle_file(str(glasses)),
        kind="glasses",
        driver=None,
        motion="still",
        blend_first=None,
        blend_second=None,
        api_name="/generate",
    )
    assert "Added “glasses_obama.png” (glasses) to the gallery" in status
    assert [item["caption"] for item in gallery] == ["1 · glasses · glasses_obama.png · 100%"]
    original, edited = load_image(before).rgb, load_image(after).rgb
    assert original.shape == edited.shape
    changed = np.abs(original.astype(int) - edited).max(axis=-1) > 40
    assert 0.002 < changed.mean() < 0.2, "the glasses show in the result, the rest stays"
    np.testing.assert_array_equal(original, load_image(portrait).rgb)  # "before" is the portrait as it was


def test_sixteen_identical_previews_at_once_all_arrive_complete(server):
    """Everyone clicking the same example at the same moment: identical outputs, each a whole, equal file.

    Each round asks for a still nobody has asked for yet (another strength), so its files are written while the
    sixteen sessions race for them; a serial call afterwards gives the expected pictures.
    """
    portrait = EXAMPLES / "portraits" / "obama.jpg"
    attribute = EXAMPLES / "attributes" / "glasses_obama.png"

    def one_session(weight: float) -> tuple[bytes, ...]:
        client = Client(server, verbose=False, download_files=False)
        add_attribute(client, attribute, "glasses", weight=weight)
        pair, _status = client.predict(
            portrait=handle_file(str(portrait)), blend_first=None, blend_second=None, alpha=0.5, api_name="/preview"
        )
        return tuple(httpx.get(half["url"], timeout=60).raise_for_status().content for half in pair)

    stills = []
    for weight in (0.95, 0.8, 0.65):
        with ThreadPoolExecutor(max_workers=16) as pool:
            answers = list(pool.map(one_session, [weight] * 16))
        expected = [load_image(data).rgb for data in one_session(weight)]
        for before, after in answers:
            np.testing.assert_array_equal(load_image(before).rgb, expected[0])
            np.testing.assert_array_equal(load_image(after).rgb, expected[1])
        stills.append(expected[1])
    assert np.abs(stills[0].astype(int) - stills[-1]).max() > 0, "each round wrote a still of its own"


def test_a_group_photo_offers_its_faces_largest_first(server):
    client = new_client(server)
    _preview, picker = client.predict(
        portrait=handle_file(str(EXAMPLES / "group" / "group.jpg")), api_name="/portrait"
    )
    assert [label for label, _value in picker["choices"]] == ["Largest face", "Face 2 of 3", "Face 3 of 3"]
    assert picker["visible"] is True and picker["value"] == 0
    _preview, single = client.predict(
        portrait=handle_file(str(EXAMPLES / "portraits" / "obama.jpg")), api_name="/portrait"
    )
    assert single["visible"] is False


# ------------------------------------------------------------------------------------------- a video as the portrait


def eye_region(image: np.ndarray) -> tuple[slice, slice]:
    """A box around both eyes of the face in ``image``, found by the face mesh."""
    from durian_core.face import regions
    from durian_core.face.landmarks import detect_landmarks

    eyes = detect_landmarks(image)[list(regions.LEFT_EYE) + list(regions.RIGHT_EYE)]
    (x0, y0), (x1, y1) = eyes.min(axis=0).astype(int), eyes.max(axis=0).astype(int)
    pad = (x1 - x0) // 8
    return slice(max(y0 - pad, 0), y1 + pad), slice(max(x0 - pad, 0), x1 + pad)


def test_a_video_portrait_shows_its_face_frame_and_generate_returns_the_clip_wearing_the_glasses(
    server, talking_driver
):
    client = new_client(server)
    shown, picker = client.predict(portrait=handle_file(str(talking_driver)), api_name="/portrait")
    first = load_video(talking_driver, max_seconds=1).frames[0]
    assert load_image(shown).rgb.shape == first.shape, "the preview is a frame of the clip, at its size"
    assert np.abs(load_image(shown).rgb.astype(int) - first).mean() < 4, "its first frame, which shows the face"
    assert picker["visible"] is False, "one face: nothing to choose"

    add_attribute(client, EXAMPLES / "attributes" / "glasses_obama.png", "glasses")
    # No driver needed, whatever the Motion choice says: the clip moves by itself.
    still, video, download, status = generate(client, talking_driver, driver=None, motion="video", max_seconds=1)

    clip = load_video(talking_driver, max_seconds=1)
    info = probe_video(video)
    assert Path(video).suffix == ".mp4" and download == video
    assert info["frames"] == len(clip.frames) and (info["width"], info["height"]) == clip.frames.shape[2:0:-1]
    assert info["has_audio"], "the clip's own sound is kept"
    assert "video portrait" in status and "classical" in status
    worn = load_video(video).frames
    eyes = eye_region(clip.frames[0])
    change = np.abs(worn.astype(int) - clip.frames).mean(axis=-1)
    assert np.mean([frame[eyes].mean() > 8 for frame in change]) >= 0.9, "the glasses are on nearly every frame"
    assert change[:, -30:, :30].mean() < 4, "far from the face, each frame is the clip's own"
    assert load_image(still).rgb.shape == clip.frames.shape[1:], "the after of the before/after is a worn frame"


def test_a_video_portrait_with_a_driver_or_a_bad_video_gets_one_clear_line(
    server, talking_driver, tmp_path, no_face_image
):
    client = new_client(server)
    add_attribute(client, EXAMPLES / "attributes" / "glasses_obama.png", "glasses")
    compare, video, download, status, _gallery = client.predict(
        portrait=handle_file(str(talking_driver)),
        driver=handle_file(str(talking_driver)),
        motion="video",
        blend_first=None,
        blend_second=None,
        api_name="/generate",
    )
    assert status.startswith("The portrait is a video: it moves by itself and takes no driving video"), status
    assert compare == video == download == {"__type__": "update"}, "nothing is generated, nothing fails"

    corrupt = tmp_path / "portrait.mp4"
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40)
    with pytest.raises(AppError, match="^cannot read video 'portrait.mp4'"):
        generate(client, corrupt, driver=None)
    with pytest.raises(AppError, match="^cannot read video 'portrait.mp4'"):
        client.predict(portrait=handle_file(str(corrupt)), api_name="/portrait")
    faceless = write_video(np.repeat(no_face_image[None], 20, axis=0), tmp_path / "faceless.mp4", fps=10)
    with pytest.raises(AppError, match="^no face found in the portrait video 'faceless.mp4'"):
        generate(client, faceless, driver=None)


# --------------------------------------------------------------------------------------------------- fit sliders


def changed_centre(edited: np.ndarray, original: np.ndarray) -> np.ndarray:
    """Where an edit changed the picture: the centre (x, y) of its clearly changed pixels."""
    ys, xs = np.nonzero(np.abs(edited.astype(int) - original).max(axis=-1) > 40)
    return np.array([xs.mean(), ys.mean()])


def test_a_fit_moves_the_attribute_in_the_preview_recomputing_only_its_placement_and_generate_keeps_it(server):
    client = new_client(server)
    portrait = EXAMPLES / "portraits" / "astronaut.jpg"
    original = load_image(portrait).rgb
    add_attribute(client, EXAMPLES / "attributes" / "glasses_obama.png", "glasses")
    placed = preview(client, portrait)
    before = client.predict(api_name="/cache_stats")

    gallery, *_, weight, dx, dy, scale, degrees = client.predict(
        dx=0.0, dy=0.15, scale=1.1, degrees=0.0, api_name="/set_fit"
    )
    compare, status = client.predict(
        portrait=handle_file(str(portrait)), blend_first=None, blend_second=None, api_name="/preview_fit"
    )
    moved = load_image(compare[1]).rgb
    after = client.predict(api_name="/cache_stats")

    assert gallery[0]["caption"].endswith("· fitted") and (dx, dy, scale, degrees) == (0.0, 0.15, 1.1, 0.0)
    assert status.startswith("Fit of"), status
    shift = changed_centre(moved, original) - changed_centre(placed, original)
    assert shift[1] > 10 and abs(shift[0]) < 6, f"the glasses move down, not sideways: {shift}"
    for namespace in ("faces", "landmarks", "masks", "sources", "app_layers"):
        assert after[namespace]["misses"] == before[namespace]["misses"], f"{namespace} was recomputed"
    assert after["aligned"]["misses"] == before["aligned"]["misses"] + 1, "only the nudged placement is made anew"

    # The ordinary preview (a weight or α moved later) and Generate make the same fitted edit.
    assert np.abs(preview(client, portrait).astype(int) - moved).mean() < 1
    still, _video, _download, _status = generate(client, portrait, driver=None)
    assert np.abs(load_image(still).rgb.astype(int) - moved).mean() < 1, "Generate makes the fitted edit"

    gallery, *_ = client.predict(dx=0.0, dy=0.0, scale=1.0, degrees=0.0, api_name="/set_fit")
    assert not gallery[0]["caption"].endswith("fitted")
    np.testing.assert_array_equal(preview(client, portrait), placed)


def test_a_fit_needs_a_selected_attribute(server):
    client = new_client(server)
    with pytest.raises(AppError, match="^Click an attribute in the gallery first"):
        client.predict(dx=0.1, dy=0.0, scale=1.0, degrees=0.0, api_name="/set_fit")
