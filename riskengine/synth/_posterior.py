"""p_posterior: the Bayes ceiling, the chance a home is an unlicensed HMO at t given all but the draws.

`p_unlicensed_hmo` (_conversion) knows what a home *is* but has seen none of its records, so a
model that reads the records can beat it; it is no ceiling. `p_posterior` is

    P(unlicensed HMO at t | true attributes, latent factor and hazard, every per-home rate and
                            visibility, household sizes, the licence status at t, every record
                            dated before t as generated, inspections before t as recorded)

under the generative model, by Bayes' rule over the one unknown that matters, the conversion
day T (a home is an unlicensed HMO at t when T <= t and it holds no licence at t):

    P(T <= t | ...) = sum_{T <= t} w(T) / sum_T w(T),   w(T) = prior(T) x P(records before t | T)
                                                               x P(no licence by t | T, records)

- prior: conversion day = history start + floor(Exp(hazard) years), "never" past the end;
- records (see _evidence): steps (Poisson sources with rates that rise on conversion, the
  integral of the rise, benefit amounts, the electoral register, inspection results) and
  windows (the letting EPC and the change-of-use application, mixtures over "was one of these
  records made around T?", with the ordinary records a Poisson process);
- no licence by t: no voluntary licence, exp(-mu (t - T + 1 day)), and no licence yet from
  a visit that truly found it (a licence follows 21..70 days after such a visit);
- homes licensed at t (the public register, as for p_unlicensed_hmo) and homes that cannot
  convert get 0.

T is summed over calendar-month buckets from the history start (one bucket for everything
before the records could see it, months after, the data start and the end as boundaries). Within
a bucket, prior x the integral terms are summed day by day in closed form; records inside
T's own bucket enter with their likelihood averaged over the bucket's days, windows the same.
Tests compare this with a day-by-day computation (_reference). The "all records" sums are built
once per home; each quarter only changes the buckets within 120 days of t and homes with a
recent positive inspection, so the cost is one matrix of homes x months, not one per quarter.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from riskengine.synth._conversion import DAYS_PER_YEAR, VOLUNTARY_LICENCE_RATE
from riskengine.synth._events import CHANGE_OF_USE_SHIFT, LETTING_EPC_SHIFT
from riskengine.synth._evidence import DELTA_CAP, Evidence, Steps, Window
from riskengine.synth._inspections import LICENCE_DELAY, RECORDING_ERROR

# how far from T a window record can fall: records up to REACH - 1 days after T (before t)
# make T >= t - REACH + 1 depend on t, and records before t make T <= t + REACH - 1 depend on it
REACH = max(LETTING_EPC_SHIFT[1] + 1, CHANGE_OF_USE_SHIFT[1] + 1, -LETTING_EPC_SHIFT[0], -CHANGE_OF_USE_SHIFT[0])
CHUNK = 32_768  # private-rented homes per block (bounds memory at about 100 MB)


def posterior(ev: Evidence, n: int, history_start: int, start: int, end: int, days: list[int],
              chunk: int = CHUNK) -> np.ndarray:
    """p_posterior per date in `days` (rows, each a month start within the period) and home (columns)."""
    grid = Grid.make(history_start, start, end)
    out = np.zeros((len(days), n), dtype=np.float32)
    if len(ev.homes) == 0:
        return out
    quarters = [grid.quarter(t) for t in days]
    steps = _sorted(ev.steps)
    windows = [_sorted_window(w) for w in ev.windows]
    positive = _sorted(ev.positive)
    for lo in range(0, len(ev.homes), chunk):
        hi = min(lo + chunk, len(ev.homes))
        block = _Block(grid, ev, lo, hi, _slice(steps, lo, hi), [_slice_window(w, lo, hi) for w in windows],
                       _slice(positive, lo, hi), np.array(days, dtype=np.int64))
        for q, quarter in enumerate(quarters):
            out[q, ev.homes[lo:hi]] = block.probability(q, quarter)
    return out


@dataclass
class Grid:
    """Buckets of conversion days: bucket j holds the days (bounds[j], bounds[j + 1]]."""

    bounds: np.ndarray  # int64
    history_start: int
    start: int
    end: int

    @staticmethod
    def make(history_start: int, start: int, end: int) -> "Grid":
        first = np.datetime64(start - REACH, "D").astype("datetime64[M]")
        last = np.datetime64(end, "D").astype("datetime64[M]")
        months = np.arange(first, last + 1).astype("datetime64[D]").astype(np.int64)
        bounds = np.unique(np.r_[history_start - 1, months[months <= end], start, end])
        return Grid(bounds, history_start, start, end)

    @property
    def size(self) -> int:
        return len(self.bounds) - 1

    def bucket(self, day: np.ndarray) -> np.ndarray:
        """The bucket holding each day (days within the history)."""
        return np.searchsorted(self.bounds, day, side="left") - 1

    def quarter(self, t: int) -> "Quarter":
        """Which buckets the date t splits, and which lie near enough for the windows to reach."""
        jt = int(np.searchsorted(self.bounds, t))
        if jt >= len(self.bounds) or self.bounds[jt] != t:
            raise ValueError(f"p_posterior: date {t} is not a bucket boundary (a month start in the period)")
        near = int(self.bucket(np.array([t - REACH + 1]))[0])
        after = min(int(np.searchsorted(self.bounds, t + REACH - 1)), self.size)
        return Quarter(t, jt, max(near, 1), after)


@dataclass
class Quarter:
    """Buckets j < jt are conversion by t; [near, after) are those the windows make depend on t."""

    t: int
    jt: int
    near: int
    after: int


def _log_geometric(rate: np.ndarray, length: np.ndarray) -> np.ndarray:
    """log sum_{k < length} exp(rate k), elementwise."""
    small = np.abs(rate) < 1e-12
    safe = np.where(small, 1.0, rate)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.expm1(safe * length) / np.expm1(safe)
    return np.where(small, np.log(length), np.log(ratio))


def _logsumexp(x: np.ndarray, axis: int = 1) -> np.ndarray:
    if x.shape[axis] == 0:
        return np.full(x.shape[:axis] + x.shape[axis + 1:], -np.inf)
    m = x.max(axis=axis)
    m = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore"):
        return np.log(np.exp(x - np.expand_dims(m, axis)).sum(axis=axis)) + m


def _suffix_after(d: np.ndarray) -> np.ndarray:
    """out[:, j] = sum of d[:, j'] over j' > j."""
    out = np.zeros_like(d)
    out[:, :-1] = np.cumsum(d[:, :0:-1], axis=1)[:, ::-1]
    return out


def _partial(day: np.ndarray, j: np.ndarray, delta: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """log of a step's likelihood ratio averaged over the days of its own bucket (T <= day or not)."""
    before = (day - bounds[j]).astype(np.float64)  # bucket days T <= day
    later = (bounds[j + 1] - day).astype(np.float64)
    with np.errstate(divide="ignore"):
        return np.logaddexp(np.log(before) + delta, np.log(later)) - np.log(before + later)


class _Block:
    """The homes lo..hi: bucket weights from all records, then one quarter at a time."""

    def __init__(self, grid: Grid, ev: Evidence, lo: int, hi: int, steps: Steps, windows: list[Window],
                 positive: Steps, days: np.ndarray) -> None:
        self.grid, self.steps, self.windows, self.positive = grid, steps, windows, positive
        self.h = ev.hazard[lo:hi]
        self.slope = ev.slope[lo:hi]
        self.licensed = ev.licensed_day[lo:hi]
        self.rows = hi - lo
        b = grid.bounds
        nb = grid.size
        j = grid.bucket(steps.day)
        flat = steps.row * nb + j
        total = np.bincount(flat, steps.delta, minlength=self.rows * nb).reshape(self.rows, nb)
        own = np.bincount(flat, _partial(steps.day, j, steps.delta, b), minlength=self.rows * nb)
        self.phi_all = self._log_phi(0, nb, None)
        self.m = self._log_prior_weight() + _suffix_after(total) + own.reshape(self.rows, nb) + self.phi_all
        self.cum = np.logaddexp.accumulate(self.m, axis=1)
        # records on or after each date: constant over T <= t, taken off again per quarter
        k = np.searchsorted(days, steps.day, side="right") - 1
        some = k >= 0
        e = np.bincount(steps.row[some] * len(days) + k[some], steps.delta[some], minlength=self.rows * len(days))
        self.from_date = np.cumsum(e.reshape(self.rows, len(days))[:, ::-1], axis=1)[:, ::-1]

    def _log_prior_weight(self) -> np.ndarray:
        """log sum over the bucket's days of prior(T) exp(mu tau + slope max(tau, 0)), tau = (T - start) in years.

        With t fixed these are the day-dependent parts of "no voluntary licence by t" and of
        the Poisson integrals, so that each bucket's sum is exact; the constants in t follow
        per quarter.
        """
        g, b = self.grid, self.grid.bounds
        first = b[:-1] + 1
        length = (b[1:] - b[:-1]).astype(np.float64)
        after = b[:-1] >= g.start
        h, mu = self.h[:, None], VOLUNTARY_LICENCE_RATE
        rise = mu + np.where(after[None, :], self.slope[:, None], 0.0)
        at_first = -h * (first - g.history_start) / DAYS_PER_YEAR + rise * (first - g.start) / DAYS_PER_YEAR
        per_day = (rise - h) / DAYS_PER_YEAR
        return np.log(-np.expm1(-h / DAYS_PER_YEAR)) + at_first + _log_geometric(per_day, length[None, :])

    def _log_phi(self, j0: int, j1: int, t: int | None) -> np.ndarray:
        """log of each window source's likelihood ratio (T : never), averaged over buckets j0..j1-1.

        For a share A of converting homes one record falls on T + s, s even over W days; the
        ordinary records are Poisson at lambda a day. Against "never converts", records before
        t have likelihood ratio 1 - A n(T) / W + A / (W lambda) x #{records within T + s},
        n(T) the shifts that would have put the record before t (and after the data start).
        t = None: every record, as for buckets far enough before any later date.
        """
        g = self.grid
        b = g.bounds
        width = j1 - j0
        out = np.zeros((self.rows, width))
        tdays = np.arange(b[j0] + 1, b[j1] + 1)
        length = (b[j0 + 1:j1 + 1] - b[j0:j1]).astype(np.float64)
        upper = (g.end + 10**6) if t is None else t - 1
        cuts = (b[j0:j1] + 1 - tdays[0]).astype(np.int64)
        for w in self.windows:
            s_lo, s_hi = w.shift
            wide = s_hi - s_lo + 1
            n_t = np.clip(np.minimum(tdays + s_hi, upper) - np.maximum(tdays + s_lo, g.start) + 1, 0, wide)
            n_avg = np.add.reduceat(n_t.astype(np.float64), cuts) / length
            keep = slice(None) if t is None else w.day < t
            row, day, lam = w.row[keep], w.day[keep], w.daily_rate[keep]
            first = np.clip(g.bucket(day - s_hi), j0, j1 - 1)
            last = np.clip(g.bucket(day - s_lo), j0, j1 - 1)
            span = np.where((day - s_lo > b[j0]) & (day - s_hi <= b[j1]), last - first + 1, 0)
            idx = np.repeat(np.arange(len(day)), span)
            jj = first[idx] + np.arange(len(idx)) - np.repeat(np.cumsum(span) - span, span)
            overlap = np.minimum(day[idx] - s_lo, b[jj + 1]) - np.maximum(day[idx] - s_hi, b[jj] + 1) + 1
            weight = np.clip(overlap, 0, None) / (length[jj - j0] * lam[idx])
            k_avg = np.bincount(row[idx] * width + (jj - j0), weight, minlength=self.rows * width)
            out += np.log(1 - w.share * n_avg / wide + w.share / wide * k_avg.reshape(self.rows, width))
        return out

    def probability(self, q: int, quarter: Quarter) -> np.ndarray:
        """p_posterior at quarter.t for the block's homes (0 where a licence is held)."""
        g, t, jt, near, after = self.grid, quarter.t, quarter.jt, quarter.near, quarter.after
        phi = self._log_phi(near, after, t)
        fix = phi[:, :jt - near] - self.phi_all[:, near:jt]
        le = np.logaddexp(self.cum[:, near - 1], _logsumexp(self.m[:, near:jt] + fix))
        rows, corr = self._positive_correction(t, jt)
        if len(rows):
            full = self.m[rows, :jt].copy()
            full[:, near:jt] += fix[rows]
            le[rows] = _logsumexp(full + corr)
        tau = (t - g.start) / DAYS_PER_YEAR
        le = le - VOLUNTARY_LICENCE_RATE * (tau + 1 / DAYS_PER_YEAR) - self.slope * tau - self.from_date[:, q]
        gt = np.logaddexp(_logsumexp(self._log_prior_mass(jt, after) + phi[:, jt - near:]),
                          self._log_prior_beyond(after))
        with np.errstate(invalid="ignore"):
            p = np.exp(le - np.logaddexp(le, gt))
        return np.where(self.licensed > t, p, 0.0)

    def _log_prior_mass(self, j0: int, j1: int) -> np.ndarray:
        b = self.grid.bounds
        h = self.h[:, None]
        first = b[j0:j1] + 1 - self.grid.history_start
        return -h * first / DAYS_PER_YEAR + np.log(-np.expm1(-h * (b[j0 + 1:j1 + 1] - b[j0:j1]) / DAYS_PER_YEAR))

    def _log_prior_beyond(self, j: int) -> np.ndarray:
        """log P(T > bounds[j]), including "never converts within the period"."""
        return -self.h * (self.grid.bounds[j] + 1 - self.grid.history_start) / DAYS_PER_YEAR

    def _positive_correction(self, t: int, jt: int) -> tuple[np.ndarray, np.ndarray]:
        """Homes with a positive record whose licence would be due by t, and log P(none yet | T) per bucket.

        A true positive at day d leads to a licence 21..70 days later, so "no licence at t"
        keeps only the chance q(t - d) that it is still pending, for every T <= d.
        """
        pos = self.positive
        gap = t - pos.day
        keep = (pos.day < t) & (gap >= LICENCE_DELAY[0])
        if not keep.any():
            return np.zeros(0, dtype=np.int64), np.zeros((0, jt))
        row, day = pos.row[keep], pos.day[keep]
        lo, hi = LICENCE_DELAY
        pending = np.clip(hi - np.maximum(t - day, lo - 1), 0, None) / (hi - lo + 1)
        with np.errstate(divide="ignore"):
            log_q = np.log(pending)
        rows, local = np.unique(row, return_inverse=True)
        j = self.grid.bucket(day)
        d = np.zeros((len(rows), jt))
        np.add.at(d, (local, j), log_q)
        delta = np.full(len(day), np.log(1 - RECORDING_ERROR) - np.log(RECORDING_ERROR)).clip(-DELTA_CAP, DELTA_CAP)
        own = np.zeros((len(rows), jt))
        b = self.grid.bounds
        np.add.at(own, (local, j), _partial(day, j, delta + log_q, b) - _partial(day, j, delta, b))
        return rows, _suffix_after(d) + own


def _sorted(s: Steps) -> Steps:
    order = np.argsort(s.row, kind="stable")
    return Steps(s.row[order], s.day[order], s.delta[order])


def _slice(s: Steps, lo: int, hi: int) -> Steps:
    a, b = np.searchsorted(s.row, [lo, hi])
    return Steps(s.row[a:b] - lo, s.day[a:b], s.delta[a:b])


def _sorted_window(w: Window) -> Window:
    order = np.argsort(w.row, kind="stable")
    return Window(w.share, w.shift, w.daily_rate[order], w.row[order], w.day[order])


def _slice_window(w: Window, lo: int, hi: int) -> Window:
    a, b = np.searchsorted(w.row, [lo, hi])
    return Window(w.share, w.shift, w.daily_rate[a:b], w.row[a:b] - lo, w.day[a:b])

