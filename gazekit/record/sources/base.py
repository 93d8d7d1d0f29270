"""What every gaze source shares: the :data:`Sample` tuple and the :class:`GazeSource` protocol.

Sources import this module, never their package ``__init__`` (which builds them by name), so there is
no package-init import cycle.
"""

from __future__ import annotations

from typing import Protocol

from gazekit.record.clock import Clock

Sample = tuple[float, float, float, bool, float, str]


class GazeSource(Protocol):
    manufacturer: str
    model: str
    sampling_hz: float
    eye: str

    def start(self, clock: Clock) -> None: ...

    def poll(self) -> list[Sample]: ...

    def stop(self) -> None: ...
