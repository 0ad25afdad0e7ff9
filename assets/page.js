() => {
  // Browsers start a video by itself only when it is muted. The result video (gr.Video, autoplay) is kept muted,
  // whatever its player sets, until the user reaches for its volume control; from then on results play with sound.
  let soundOn = false;
  const isResult = (target) => target instanceof HTMLVideoElement && target.closest("#result-video") !== null;
  const keepMuted = (event) => {
    if (!soundOn && isResult(event.target) && !event.target.muted) event.target.muted = true;
  };
  // Media events do not bubble, but the document sees them on their way down.
  for (const type of ["loadstart", "play", "volumechange"]) document.addEventListener(type, keepMuted, true);
  document.addEventListener(
    "pointerdown",
    (event) => {
      if (!event.target.closest || !event.target.closest("#result-video .volume-control-wrapper")) return;
      soundOn = true;
      document.querySelectorAll("#result-video video").forEach((video) => (video.muted = false));
    },
    true,
  );
}
