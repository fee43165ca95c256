"""The live view's sounds: the target and the patch it shows, as WAV files a browser plays.

Both come at the loudness the distance compares them at (:func:`synthmatch.loudness.equal_loudness`, -24 dBFS
RMS), so that what one hears side by side is what the match was measured on, not a difference of level. The
patch's sound is rendered on request by the session's synth (for a VST3 plugin, on the main thread, between the
match's own renders), one request at a time: a second one while a render runs is told to try again rather than
queued, so a page that asks too often cannot pile up renders in front of the match. A synth that is played live
(``--render live``) is not rendered: that would play a note on the instrument in the middle of a match.
"""

from __future__ import annotations

import io
import threading
import wave

import numpy as np
import numpy.typing as npt

from synthmatch.loudness import equal_loudness
from synthmatch.synths import Synth

#: Highest peak of a sound sent to the browser, linear: a sound whose peak at equal loudness would clip is turned down.
PEAK_LIMIT = 10.0 ** (-1.0 / 20.0)


class SoundUnavailable(RuntimeError):
    """The sound cannot be given now: ``status`` is the HTTP status that says why (404, 409, 503)."""

    def __init__(self, status: int, message: str) -> None:
        """``message`` says why, ``status`` is the HTTP status to answer with."""
        super().__init__(message)
        self.status = status


def wav_bytes(audio: npt.ArrayLike, sample_rate: int) -> bytes:
    """A mono 16-bit WAV file of ``audio[N]`` at equal loudness, peaks kept below -1 dBFS."""
    level = equal_loudness(np.asarray(audio, dtype=np.float32))[0]
    peak = float(np.max(np.abs(level))) if level.size else 0.0
    if peak > PEAK_LIMIT:
        level = level * np.float32(PEAK_LIMIT / peak)
    samples = np.round(np.clip(level, -1.0, 1.0) * 32767.0).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as file:
        file.setnchannels(1)
        file.setsampwidth(2)
        file.setframerate(sample_rate)
        file.writeframes(samples.tobytes())
    return buffer.getvalue()


class PatchSounds:
    """Renders a patch of ``synth`` to WAV on request, one render at a time; none when the synth plays live."""

    def __init__(self, synth: Synth, plays_live: bool) -> None:
        """Render with ``synth``; never when ``plays_live`` (it would play a note on the instrument)."""
        self.synth = synth
        self.plays_live = plays_live
        self._rendering = threading.Lock()

    @property
    def available(self) -> bool:
        """Whether the view can play the patch's sound at all."""
        return not self.plays_live

    def wav(self, params: npt.NDArray[np.float64], note: int | None) -> bytes:
        """``params[P]`` (normalised) played at ``note`` (None: the definition's) as WAV; SoundUnavailable if it
        cannot be now."""
        if self.plays_live:
            raise SoundUnavailable(409, "this synth is played live (--render live): listen to the instrument itself; "
                                        "the view renders in-process synths only")
        if not self._rendering.acquire(blocking=False):
            raise SoundUnavailable(503, "the current sound is being rendered for another request; try again")
        try:
            audio = self.synth.render(params[None], note)
        finally:
            self._rendering.release()
        return wav_bytes(audio[0], self.synth.sample_rate)
