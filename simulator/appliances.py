"""How much power an appliance draws while someone uses it, and when it is idle.

A use has phases (watts for a number of seconds; the last phase lasts until the use ends)
and falls back to standby power outside uses. Numbers are typical for Korean households.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ApplianceProfile:
    name: str
    standby_w: float
    phases: tuple[tuple[float, float | None], ...]  # (watts, seconds); None = until the use ends
    duration_s: tuple[float, float]  # a typical use lasts between these
    power_factor: float = 0.95
    # Stays on until a person switches it off (a TV, a rice cooker keeping warm, a lamp); False: it
    # ends its use by itself (a kettle, a microwave). A resident who collapses while active leaves
    # these on (``HouseholdSpec.collapse``).
    stays_on: bool = False

    def power_during(self, offset_s: float) -> float:
        """Power ``offset_s`` seconds into a use."""
        elapsed = 0.0
        for watts, seconds in self.phases:
            if seconds is None or offset_s < elapsed + seconds:
                return watts
            elapsed += seconds
        return self.phases[-1][0]

    def phase_offsets(self) -> tuple[float, ...]:
        """Seconds into a use at which the power steps (for change-point readings)."""
        offsets, elapsed = [], 0.0
        for _watts, seconds in self.phases[:-1]:
            elapsed += seconds or 0.0
            offsets.append(elapsed)
        return tuple(offsets)


PROFILES: dict[str, ApplianceProfile] = {
    "kettle": ApplianceProfile("kettle", 0.0, ((1800.0, None),), (180.0, 240.0), power_factor=1.0),
    "tv": ApplianceProfile("tv", 1.0, ((90.0, None),), (9000.0, 12600.0), power_factor=0.6, stays_on=True),
    # cooks at full power for ~30 min, then keeps warm at 40 W until someone switches it off
    "rice_cooker": ApplianceProfile(
        "rice_cooker",
        1.5,
        ((700.0, 1800.0), (40.0, None)),
        (5400.0, 9000.0),
        power_factor=0.99,
        stays_on=True,
    ),
    "microwave": ApplianceProfile("microwave", 2.0, ((1100.0, None),), (120.0, 180.0), power_factor=0.95),
}

APPLIANCE_LABELS_KO: dict[str, str] = {
    "kettle": "전기포트",
    "tv": "TV",
    "rice_cooker": "전기밥솥",
    "microwave": "전자레인지",
}


def profile(appliance: str) -> ApplianceProfile:
    try:
        return PROFILES[appliance]
    except KeyError:
        raise ValueError(f"unknown appliance {appliance!r}; known: {', '.join(sorted(PROFILES))}") from None
