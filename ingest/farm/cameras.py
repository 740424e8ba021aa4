"""The farm's cameras: what each one is, and a deterministic plan for N of them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, get_args

import numpy as np

from ingest.farm.frames import SCENES, VARIANTS

Behaviour = Literal[
    "changing",
    "static",
    "slow",
    "offline",
    "black",
    "error_page",
    "blurred",
    "hang",
    "drip",
    "garbage",
    "html",
    "truncated",
    "endless",
    "redirect_loop",
    "huge",
    "server_error",
]
FarmAuth = Literal["none", "basic", "digest"]

BEHAVIOURS: tuple[Behaviour, ...] = get_args(Behaviour)
AUTH_SCHEMES: tuple[FarmAuth, ...] = get_args(FarmAuth)

#: the demo's cameras: mostly healthy, a few slow, offline or showing a bad picture
DEFAULT_MIX: dict[str, float] = {
    "changing": 0.75,
    "static": 0.10,
    "slow": 0.05,
    "offline": 0.05,
    "black": 0.05 / 3,
    "error_page": 0.05 / 3,
    "blurred": 0.05 / 3,
}
DEFAULT_USERNAME = "admin"
DEFAULT_PASSWORD = "farm-Pa55word"


@dataclass(frozen=True)
class FarmCamera:
    """One fake camera: its index (URL path), auth, account and behaviour.

    ``scene`` picks the street scene, ``phase`` offsets its clock (in frame periods)
    so that cameras do not all change at the same instant, ``delay_s`` is how long a
    "slow" camera takes to answer.
    """

    index: int
    name: str
    auth: FarmAuth
    username: str
    password: str = field(repr=False)
    behaviour: Behaviour = "changing"
    scene: int = 0
    phase: float = 0.0
    delay_s: float = 0.0

    @classmethod
    def make(
        cls,
        index: int,
        behaviour: Behaviour,
        auth: FarmAuth = "none",
        *,
        seed: int = 0,
        username: str = DEFAULT_USERNAME,
        password: str = DEFAULT_PASSWORD,
    ) -> FarmCamera:
        """A camera whose scene, phase and delay follow from ``(seed, index)``."""
        rng = np.random.default_rng([seed, index, 5])
        return cls(
            index=index,
            name=f"farm-{index:04d}",
            auth=auth,
            username=username,
            password=password,
            behaviour=behaviour,
            scene=int(rng.integers(0, SCENES)),
            phase=float(rng.uniform(0, VARIANTS)),
            delay_s=round(float(rng.uniform(2.0, 8.0)), 2),
        )


def _counts(n: int, mix: Mapping[str, float]) -> dict[str, int]:
    """Split ``n`` by the weights of ``mix`` (largest remainder, ties by name)."""
    unknown = set(mix) - set(BEHAVIOURS)
    if unknown:
        raise ValueError(f"unknown farm behaviours: {sorted(unknown)}")
    if any(w < 0 for w in mix.values()) or sum(mix.values()) <= 0:
        raise ValueError("mix weights must be >= 0 and not all 0")
    total = sum(mix.values())
    exact = {k: n * w / total for k, w in mix.items()}
    counts = {k: int(v) for k, v in exact.items()}
    by_remainder = sorted(exact, key=lambda k: (counts[k] - exact[k], k))
    for k in by_remainder[: n - sum(counts.values())]:
        counts[k] += 1
    return counts


def plan_cameras(
    n: int,
    *,
    seed: int = 0,
    mix: Mapping[str, float] | None = None,
    username: str = DEFAULT_USERNAME,
    password: str = DEFAULT_PASSWORD,
) -> list[FarmCamera]:
    """``n`` cameras with behaviours in the proportions of ``mix`` and auth a third each.

    The same arguments always give the same cameras.
    """
    if n < 0:
        raise ValueError("n must be >= 0")
    counts = _counts(n, DEFAULT_MIX if mix is None else mix)
    rng = np.random.default_rng([seed, 6])
    behaviours: list[Behaviour] = [b for b in BEHAVIOURS for _ in range(counts.get(b, 0))]
    order = rng.permutation(n)
    auths = rng.permutation(n)
    return [
        FarmCamera.make(
            i,
            behaviours[int(order[i])],
            AUTH_SCHEMES[int(auths[i]) % 3],
            seed=seed,
            username=username,
            password=password,
        )
        for i in range(n)
    ]
