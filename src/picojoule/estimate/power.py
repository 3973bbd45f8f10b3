"""Active power fitted from published energy measurements, and its held-out check.

A published MLPerf Tiny energy run gives, for one system (chip + software) on one board, the
median power the energy monitor measured, the supply voltage it gave, the clock and the
software platform. The model is

    P = I_ref x V x f_platform        (LDO-regulated chip: the current does not depend on VDD)
    P = P_ref x f_platform            (SMPS-regulated chip: the input power stays the same)

with ``I_ref`` (or ``P_ref``) the median over the reference-platform (``bare-metal``)
systems of each system's median, and ``f_platform`` the median over a platform's systems
divided by that reference. Medians per system first, so a system with four benchmarks
counts once and one odd benchmark does not move the fit. A chip run from either supply path
(the STM32L4R5 from its LDO, the STM32L4R5xxP from an external SMPS) is fitted once per path,
each run on the path its description names (else the target's default).

How a platform's runs are pooled is a choice: :data:`STATISTICS` lists the fit's own
(median of system medians) and two geometric means, which ``benchmarks/bench_estimate.py``
uses to show how much the held-out check depends on it.

:func:`fit` gives the figures the target file carries (``scripts/fit_power.py`` prints
them); :func:`leave_one_system_out` refits without each system in turn and predicts that
system's runs, which is what ``benchmarks/bench_estimate.py`` reports as bar 2.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Iterable

from picojoule.targets import REFERENCE_PLATFORM, PublishedRun, Target, TargetError

__all__ = ["PowerFit", "Prediction", "STATISTICS", "FIT_STATISTIC", "usable_runs",
           "run_regulator", "fit", "fits",
           "predict_mw", "leave_one_system_out"]


@dataclass(frozen=True)
class PowerFit:
    regulator: str  # "ldo" or "smps"
    reference: float  # mA (ldo) or mW (smps) on the reference platform
    factors: dict[str, float]  # platform -> factor (reference platform: 1.0)
    systems: dict[str, tuple[str, float]]  # system -> (platform, median mA or mW)

    @property
    def unit(self) -> str:
        return "mA" if self.regulator == "ldo" else "mW"


@dataclass(frozen=True)
class Prediction:
    run: PublishedRun
    power_mw: float  # modelled power for the run's voltage and platform
    energy_uj: float  # modelled power x published latency
    ratio: float  # modelled / published energy
    fit: PowerFit | None  # the refit that predicted it; None: the target's own figure
    basis: str = "refit without this system"


def usable_runs(runs: Iterable[PublishedRun]) -> list[PublishedRun]:
    """Runs with everything the fit needs: measured power, voltage, latency and energy."""
    return [r for r in runs if r.power_mw and r.voltage_v and r.latency_ms and r.energy_uj]


def run_regulator(run: PublishedRun, target: Target) -> str:
    """The supply path of a run: its own, else the target's default ("ldo" if unknown)."""
    return run.regulator or target.power.regulator or "ldo"


def _level(run: PublishedRun, regulator: str) -> float:
    return run.power_mw / run.voltage_v if regulator == "ldo" else run.power_mw


#: How a fit pools the runs of one platform into one level. The fit's own is the first; the
#: others exist so that ``benchmarks/bench_estimate.py`` can show how much bar 2 depends on
#: the choice (they are not used for the target files).
STATISTICS = {
    "median of system medians": lambda per: statistics.median(
        [statistics.median(v) for v in per]),
    "geometric mean of system medians": lambda per: statistics.geometric_mean(
        [statistics.median(v) for v in per]),
    "geometric mean of runs": lambda per: statistics.geometric_mean(
        [x for v in per for x in v]),
}
FIT_STATISTIC = "median of system medians"


def fit(runs: Iterable[PublishedRun], regulator: str,
        statistic: str = FIT_STATISTIC) -> PowerFit:
    """Fit the reference current (or power) and the platform factors to ``runs``, pooling
    each platform's runs with ``statistic`` (one of :data:`STATISTICS`)."""
    regulator = regulator or "ldo"
    pool = STATISTICS[statistic]
    per: dict[str, list[float]] = {}
    platform_of: dict[str, str] = {}
    for r in usable_runs(runs):
        per.setdefault(r.system, []).append(_level(r, regulator))
        platform_of[r.system] = r.platform or REFERENCE_PLATFORM
    systems = {s: (platform_of[s], statistics.median(v)) for s, v in per.items()}
    if REFERENCE_PLATFORM not in platform_of.values():
        raise ValueError(f"no {REFERENCE_PLATFORM} system among the runs to fit")
    level = {p: pool([v for s, v in per.items() if platform_of[s] == p])
             for p in set(platform_of.values())}
    reference = level[REFERENCE_PLATFORM]
    factors = {p: v / reference for p, v in level.items()}
    return PowerFit(regulator, reference, factors, systems)


def fits(target: Target) -> dict[str, PowerFit]:
    """One fit per supply path the target's usable runs were measured on, default first.

    A path whose runs include no reference-platform system is left out.
    """
    groups: dict[str, list[PublishedRun]] = {}
    for r in usable_runs(target.published):
        groups.setdefault(run_regulator(r, target), []).append(r)
    order = sorted(groups, key=lambda g: g != (target.power.regulator or "ldo"))
    out = {}
    for g in order:
        try:
            out[g] = fit(groups[g], g)
        except ValueError:
            continue
    return out


def predict_mw(f: PowerFit, voltage_v: float, platform: str | None) -> float:
    """Modelled active power of a run at ``voltage_v`` on ``platform``."""
    factor = f.factors[platform or REFERENCE_PLATFORM]
    return f.reference * (voltage_v if f.regulator == "ldo" else 1.0) * factor


def _independent_predictions(target: Target, runs: list[PublishedRun],
                             regulator: str) -> list[Prediction] | None:
    """``runs`` predicted by the target's own figure when that figure is not fitted to runs."""
    try:
        point = target.active_point(runs[0].mhz, regulator)
    except TargetError:
        return None
    if point.fitted:
        return None
    out = []
    for r in runs:
        try:
            p = target.active_power_mw(r.mhz, r.voltage_v, r.platform, regulator)
        except TargetError:
            continue
        e = p * r.latency_ms
        out.append(Prediction(r, p, e, e / r.energy_uj, None, "the target's figure "
                              "(not fitted to runs)"))
    return out


def leave_one_system_out(target: Target, statistic: str = FIT_STATISTIC) -> list[Prediction]:
    """Predict each system's runs from a fit to the target's other systems.

    Only systems on the same supply path (:func:`run_regulator`) are used. When the target's
    figure for that path is not fitted to runs (a datasheet figure: its source does not
    start with ``fitted:``), it never saw any run and predicts them as it is. A run whose
    platform or supply path no other system shares cannot be predicted and is left out.
    """
    runs = usable_runs(target.published)
    out = []
    for system in dict.fromkeys(r.system for r in runs):
        mine = [r for r in runs if r.system == system]
        path = {run_regulator(r, target) for r in mine}
        if len(path) != 1:
            continue
        (regulator,) = path
        independent = _independent_predictions(target, mine, regulator)
        if independent is not None:
            out += independent
            continue
        train = [r for r in runs if r.system != system and run_regulator(r, target) == regulator]
        try:
            f = fit(train, regulator, statistic)
        except ValueError:
            continue
        for r in mine:
            if (r.platform or REFERENCE_PLATFORM) not in f.factors:
                continue
            p = predict_mw(f, r.voltage_v, r.platform)
            e = p * r.latency_ms  # mW x ms = uJ
            out.append(Prediction(r, p, e, e / r.energy_uj, f))
    return out
