"""Media in and out: :mod:`.images` (loading, masks, writing), :mod:`.video` (decoding drivers, writing mp4s with
audio) and :mod:`.probe` (what ffmpeg says about a file).

Everything a user uploads passes through here first, so every refusal names the file and the problem in words
(``DurianInputError``); :mod:`.outputs` checks where results go before any work starts.
"""

from durian_core.media.images import (
    ImageSource,
    LoadedImage,
    image_suffixes,
    load_image,
    load_mask,
    write_image,
)
from durian_core.media.outputs import check_output_folder, check_output_path
from durian_core.media.video import VideoWriter, load_video, open_video, probe_video, video_has_audio, write_video

__all__ = [
    "ImageSource",
    "check_output_folder",
    "check_output_path",
    "image_suffixes",
    "VideoWriter",
    "LoadedImage",
    "load_image",
    "load_mask",
    "load_video",
    "open_video",
    "probe_video",
    "video_has_audio",
    "write_image",
    "write_video",
]
