"""The linear compartment model of a tracer, and its maths: the compartment matrix, the
solution over time and the exact time-integrated activity coefficients (TIACs).

Decay-corrected fractions q (one per compartment, plus ``excreted``) obey dq/dt = K q,
where each transfer i -> j with biological half-time T adds ln 2 / T to K[j, i] and takes
it from K[i, i]. Physical decay multiplies everything by exp(-lambda t), so physical
fractions follow M = K - lambda I. The bladder compartment is emptied into ``excreted`` at
each void. Between voids the solution is the matrix exponential; the integral over a
segment comes from one augmented exponential (Van Loan), and the sum over the infinitely
many periodic voids is a geometric series of matrices, so TIACs are exact.

A model is read from a tracer file by :mod:`arkit_py.tracer.tracerfile`.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

import numpy as np

from .curves import Curves
from .decay import Nuclide, nuclide

EXCRETED = "excreted"


@dataclass(frozen=True)
class Param:
    """One model parameter with where it comes from."""

    name: str  # e.g. "compartments.brain.initial"
    value: float  # internal units (fraction, seconds, Bq)
    text: str  # as written ("12 min")
    source: str
    status: str
    note: str = ""

    @property
    def unverified(self) -> bool:
        return self.status == "unverified"


@dataclass(frozen=True)
class Transfer:
    target: str  # compartment id or "excreted"
    half_time: Param

    @property
    def rate(self) -> float:
        return math.log(2) / self.half_time.value


@dataclass(frozen=True)
class Compartment:
    id: str
    region: str
    initial: Param
    transfers: tuple[Transfer, ...] = ()
    bladder: bool = False


@dataclass(frozen=True)
class Region:
    """A source region and the structures it maps onto (split by mass); ``fallback`` is
    used when none of ``structures`` is present; ``remainder`` maps onto the body."""

    id: str
    structures: tuple[str, ...] = ()
    fallback: tuple[str, ...] = ()
    remainder: bool = False
    display: str = ""


@dataclass(frozen=True)
class Voiding:
    interval: Param | None
    first: Param | None

    def times(self, until_s: float) -> np.ndarray:
        """Void instants in (0, until_s]."""
        if self.interval is None:
            return np.zeros(0)
        first = self.first.value if self.first else self.interval.value
        if first > until_s:
            return np.zeros(0)
        n = math.floor((until_s - first) / self.interval.value + 1e-9) + 1
        return first + self.interval.value * np.arange(n)


@dataclass
class TracerModel:
    id: str
    name: str
    nuclide_name: str
    regions: dict[str, Region]
    compartments: dict[str, Compartment]
    voiding: Voiding
    params: list[Param]
    sources: dict[str, dict]
    activity: Param | None = None
    quantity: str = "concentration"
    window: tuple[float, float] | None = None
    until_s: float = 7200.0
    description: str = ""
    published: list[dict] = field(default_factory=list)
    origin: str = ""  # the file it was read from

    @property
    def nuclide(self) -> Nuclide:
        return nuclide(self.nuclide_name)

    @property
    def region_ids(self) -> list[str]:
        """Regions in file order (the columns of ``simulate``)."""
        return list(self.regions)

    def with_voiding(self, interval_s: float | None, *, first_s: float | None = None) -> TracerModel:
        """A copy with another voiding interval (None: never void)."""
        out = copy.copy(self)
        if interval_s is None:
            out.voiding = Voiding(None, None)
            return out
        p = Param("voiding.interval", interval_s, f"{interval_s / 3600:g} h", "user", "user")
        f = Param("voiding.first", first_s, f"{first_s / 3600:g} h", "user", "user") if first_s else None
        out.voiding = Voiding(p, f)
        return out

    # -- the linear system -------------------------------------------------------------

    def _system(self) -> tuple[list[str], np.ndarray, np.ndarray, int | None]:
        ids = list(self.compartments) + [EXCRETED]
        index = {c: i for i, c in enumerate(ids)}
        k = np.zeros((len(ids), len(ids)))
        q0 = np.zeros(len(ids))
        bladder = None
        for c in self.compartments.values():
            i = index[c.id]
            q0[i] = c.initial.value
            if c.bladder:
                bladder = i
            for t in c.transfers:
                k[index[t.target], i] += t.rate
                k[i, i] -= t.rate
        return ids, k, q0, bladder

    def solve(self, times_s, *, decay_corrected: bool = False) -> tuple[list[str], np.ndarray]:
        """Fractions of the administered activity in every compartment (and ``excreted``)
        at ``times_s``: (ids, (n, c) array). Physical unless ``decay_corrected``. At a void
        instant the value is the one just before voiding (the left limit)."""
        times = np.asarray(times_s, dtype=np.float64)
        if times.ndim != 1 or np.any(times < 0):
            raise ValueError("solve: times_s must be a 1-D array of times >= 0")
        ids, k, q0, bladder = self._system()
        lam = 0.0 if decay_corrected else self.nuclide.decay_constant
        m = k - lam * np.eye(len(ids))
        voids = self.voiding.times(float(times.max()) if len(times) else 0.0) if bladder is not None else np.zeros(0)
        out = np.zeros((len(times), len(ids)))
        order = np.argsort(times, kind="stable")
        state, t_state, v = q0.copy(), 0.0, 0
        for j in order:
            t = times[j]
            while v < len(voids) and voids[v] < t:
                state = _expm(m * (voids[v] - t_state)) @ state
                t_state = voids[v]
                state = _void(state, bladder, len(ids) - 1)
                v += 1
            out[j] = _expm(m * (t - t_state)) @ state
        return ids, out

    def tiac_compartments(self) -> dict[str, float]:
        """Time-integrated activity coefficients (hours) of every compartment, from 0 to
        infinity, exact (voiding included as an infinite periodic series)."""
        ids, k, q0, bladder = self._system()
        lam = self.nuclide.decay_constant
        m = k - lam * np.eye(len(ids))
        n = len(ids)
        # excreted activity is outside the body: drop it from the integral but keep it in
        # the state (so the series stays exact); lambda > 0 makes M invertible.
        if bladder is None or self.voiding.interval is None:
            total = -np.linalg.solve(m, q0)
        else:
            first = self.voiding.first.value if self.voiding.first else self.voiding.interval.value
            period = self.voiding.interval.value
            p1, g1 = _propagator_and_integral(m, first)
            p, g = _propagator_and_integral(m, period)
            void = np.eye(n)
            void[bladder, bladder] = 0.0
            void[n - 1, bladder] = 1.0
            q1 = void @ p1 @ q0  # the state just after the first void
            # sum_{j>=0} G (V P)^j q1 = G (I - V P)^-1 q1
            total = g1 @ q0 + g @ np.linalg.solve(np.eye(n) - void @ p, q1)
        return {c: float(total[i]) / 3600.0 for i, c in enumerate(ids) if c != EXCRETED}

    def tiac_regions(self) -> dict[str, float]:
        per = self.tiac_compartments()
        out = dict.fromkeys(self.regions, 0.0)
        for c in self.compartments.values():
            out[c.region] += per[c.id]
        return out

    def simulate(self, activity_bq: float, times_s, *, decay_corrected: bool = False) -> Curves:
        """Activity (Bq) in every region at ``times_s``."""
        ids, q = self.solve(times_s, decay_corrected=decay_corrected)
        regions = self.region_ids
        values = np.zeros((len(q), len(regions)))
        for c in self.compartments.values():
            values[:, regions.index(c.region)] += q[:, ids.index(c.id)]
        return Curves(np.asarray(times_s, dtype=np.float64), tuple(regions), values * activity_bq, "activity",
                      decay_corrected, self.nuclide_name,
                      {"tracer": self.id, "activity_bq": activity_bq,
                       "excreted_fraction": q[:, ids.index(EXCRETED)]})

    def sample_times(self, until_s: float, step_s: float, *, void_gap_s: float = 1.0) -> np.ndarray:
        """A grid from 0 to ``until_s`` by ``step_s`` with both sides of every void (the
        void instant, full, and ``void_gap_s`` later, emptied)."""
        if step_s <= 0 or until_s <= 0:
            raise ValueError("sample_times: until_s and step_s must be positive")
        n = math.floor(until_s / step_s + 1e-9)
        grid = list(step_s * np.arange(n + 1))
        if grid[-1] < until_s - 1e-9:
            grid.append(until_s)
        if any(c.bladder for c in self.compartments.values()):
            for v in self.voiding.times(until_s):
                grid += [v, min(v + void_gap_s, until_s)] if v < until_s else [v]
        return np.unique(np.round(np.asarray(grid, dtype=np.float64), 6))


def _void(state: np.ndarray, bladder: int, excreted: int) -> np.ndarray:
    out = state.copy()
    out[excreted] += out[bladder]
    out[bladder] = 0.0
    return out


def _expm(a: np.ndarray) -> np.ndarray:
    from scipy.linalg import expm

    return expm(a)


def _propagator_and_integral(m: np.ndarray, dt: float) -> tuple[np.ndarray, np.ndarray]:
    """(exp(M dt), integral_0^dt exp(M s) ds) from one exponential of [[M, I], [0, 0]] dt."""
    n = len(m)
    big = np.zeros((2 * n, 2 * n))
    big[:n, :n] = m * dt
    big[:n, n:] = np.eye(n) * dt
    e = _expm(big)
    return e[:n, :n], e[:n, n:]
