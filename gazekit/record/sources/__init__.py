"""Gaze sources: one small class each, all giving samples on the session clock in screen pixels.

A source has ``start(clock)``, ``poll() -> list[Sample]`` (everything that arrived since the last
poll), ``stop()``, and describes itself with ``manufacturer``, ``model``, ``sampling_hz`` and ``eye``
for session.json. A sample is ``(t_ms, x_screen_px, y_screen_px, valid, pupil, eye)``.
"""

from __future__ import annotations

from gazekit.record.sources.base import GazeSource, Sample

__all__ = ["SOURCES", "GazeSource", "Sample", "make_source"]

SOURCES = ("mouse", "lsl", "tobii", "replay")


def make_source(name: str, **options) -> GazeSource:
    """The gaze source ``name`` (one of :data:`SOURCES`) built from the ``gazekit record`` options.

    ``pointer`` (mouse), ``replay_file`` (replay), ``screen_px`` (lsl in norm units, tobii),
    ``lsl_stream`` / ``lsl_channels`` / ``lsl_units`` (lsl), ``tobii_address`` (tobii).
    """
    from gazekit.errors import GazekitError

    if name == "mouse":
        from gazekit.record.sources.mouse import MouseSource

        return MouseSource(options["pointer"])
    if name == "replay":
        from gazekit.record.sources.replay import ReplaySource

        if options.get("replay_file") is None:
            raise GazekitError(None, "--replay-file", "expected the samples file to replay with --source replay")
        return ReplaySource(options["replay_file"], options.get("screen_px"))
    if name == "lsl":
        from gazekit.record.sources.lsl import LslSource

        return LslSource(
            options.get("lsl_stream", "Gaze"),
            tuple(options.get("lsl_channels", ("0", "1"))),
            options.get("lsl_units", "px"),
            options["screen_px"],
        )
    if name == "tobii":
        from gazekit.record.sources.tobii import TobiiSource

        return TobiiSource(options["screen_px"], options.get("tobii_address"))
    raise GazekitError(None, "--source", f"expected one of {', '.join(SOURCES)}, got {name!r}")
