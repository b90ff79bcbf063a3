// Pictures and sounds out of the browser: a [0, 1] picture onto a canvas, a waveform as a
// 16-bit PCM WAV (as itslib.files.write_wav writes it), and a player whose playhead moves
// over the picture as the sound plays (as itslib.viz's player does).

/** Draw `picture` (height x width values in [0, 1], row 0 at the top) in gray on `canvas`. */
export function drawPicture(canvas, picture, height, width) {
  canvas.width = width;
  canvas.height = height;
  const context = canvas.getContext("2d");
  const image = context.createImageData(width, height);
  for (let i = 0; i < height * width; i++) {
    const v = Math.round(Math.min(1, Math.max(0, picture[i])) * 255);
    image.data[4 * i] = image.data[4 * i + 1] = image.data[4 * i + 2] = v;
    image.data[4 * i + 3] = 255;
  }
  context.putImageData(image, 0, 0);
}

/** A mono waveform in [-1, 1] (clipped) as a 16-bit PCM WAV file. */
export function wavBlob(wav, sampleRate) {
  const bytes = new ArrayBuffer(44 + 2 * wav.length);
  const view = new DataView(bytes);
  const text = (offset, s) => [...s].forEach((c, i) => view.setUint8(offset + i, c.charCodeAt(0)));
  text(0, "RIFF");
  view.setUint32(4, 36 + 2 * wav.length, true);
  text(8, "WAVEfmt ");
  view.setUint32(16, 16, true); // fmt chunk size
  view.setUint16(20, 1, true); // PCM
  view.setUint16(22, 1, true); // mono
  view.setUint32(24, sampleRate, true);
  view.setUint32(28, 2 * sampleRate, true); // bytes per second
  view.setUint16(32, 2, true); // bytes per frame
  view.setUint16(34, 16, true); // bits per sample
  text(36, "data");
  view.setUint32(40, 2 * wav.length, true);
  for (let i = 0; i < wav.length; i++) {
    const v = Math.max(-1, Math.min(1, wav[i]));
    view.setInt16(44 + 2 * i, Math.round(v * 32767), true); // as libsndfile scales floats
  }
  return new Blob([bytes], { type: "audio/wav" });
}

/** Move `head` (a bar over the picture) to where `sound` is, while it plays or is sought. */
export function followPlayhead(sound, head) {
  const place = () => {
    const share = sound.duration > 0 ? sound.currentTime / sound.duration : 0;
    head.style.left = `${100 * Math.min(1, share)}%`;
  };
  const follow = () => {
    place();
    if (!sound.paused) requestAnimationFrame(follow);
  };
  sound.addEventListener("play", follow);
  sound.addEventListener("timeupdate", place);
  sound.addEventListener("seeked", place);
  return place;
}
