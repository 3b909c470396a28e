"""Card-transaction simulator: customers, terminals, legitimate spending and four fraud scenarios.

Deterministic for a seed. Produces the raw events the stream carries and, separately, their labels,
each with the time the label becomes available (chargebacks arrive days after the transaction).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator

from serving.features import MS_PER_DAY
from serving.schemas import MERCHANT_CATEGORIES

SCENARIOS = ("none", "large_amount", "compromised_terminal", "compromised_card", "card_testing")
# How often each category is seen among terminals before any drift is applied.
BASE_CATEGORY_WEIGHTS = dict(
    zip(MERCHANT_CATEGORIES, (0.22, 0.16, 0.1, 0.14, 0.1, 0.05, 0.03, 0.07, 0.06, 0.07), strict=True)
)
GRID_KM = 100.0
NEARBY_RADIUS_KM = 8.0


class SimulationConfig(BaseModel):
    """Everything the simulator can be asked to do; a bad value raises a ValidationError naming the field."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: int = Field(7, ge=0)
    n_customers: int = Field(4000, ge=10, le=1_000_000)
    n_terminals: int = Field(1000, ge=10, le=1_000_000)
    n_days: int = Field(56, ge=1, le=730)
    start_date: date = date(2026, 1, 5)
    max_tx_per_day: float = Field(
        3.0, gt=0, le=50, description="customers' daily rate is uniform on [0, this]"
    )
    # Fraud scenarios, in events per day (terminals per day for compromised terminals).
    large_amount_per_day: float = Field(8.0, ge=0)
    compromised_terminals_per_day: float = Field(0.8, ge=0)
    compromised_terminal_days: int = Field(14, ge=1)
    compromised_terminal_fraud_share: float = Field(0.4, ge=0, le=1)
    compromised_cards_per_day: float = Field(4.0, ge=0)
    card_testing_bursts_per_day: float = Field(2.0, ge=0)
    # Labels: frauds are charged back after 1 day plus a gamma-distributed delay; every label is final
    # (a legitimate transaction is confirmed) once label_maturity_days have passed.
    chargeback_mean_days: float = Field(5.0, gt=1)
    label_maturity_days: int = Field(10, ge=1)
    # Drift knobs for monitoring work.
    amount_scale: float = Field(1.0, gt=0, le=100)
    fraud_rate_scale: float = Field(1.0, ge=0, le=100)
    tx_rate_scale: float = Field(1.0, gt=0, le=100)
    category_shift: dict[str, float] = Field(default_factory=dict)

    @field_validator("category_shift")
    @classmethod
    def _known_categories(cls, shift: dict[str, float]) -> dict[str, float]:
        for category, factor in shift.items():
            if category not in BASE_CATEGORY_WEIGHTS:
                raise ValueError(
                    f"unknown merchant category {category!r}; known: {', '.join(MERCHANT_CATEGORIES)}"
                )
            if factor < 0:
                raise ValueError(f"weight multiplier for {category!r} must be >= 0, got {factor}")
        return shift

    @property
    def start_ms(self) -> int:
        return int(datetime.combine(self.start_date, time(0), tzinfo=UTC).timestamp() * 1000)


class _World:
    """Customers and terminals, fixed for a seed, shared by every scenario."""

    def __init__(self, config: SimulationConfig, rng: np.random.Generator):
        c, t = config.n_customers, config.n_terminals
        self.home = rng.uniform(0, GRID_KM, size=(c, 2))
        self.mean_amount = rng.uniform(5, 100, size=c)
        self.std_amount = self.mean_amount / 2
        self.tx_per_day = rng.uniform(0, config.max_tx_per_day, size=c) * config.tx_rate_scale
        self.n_devices = rng.integers(1, 3, size=c)
        self.terminal_xy = rng.uniform(0, GRID_KM, size=(t, 2))
        base = np.array([BASE_CATEGORY_WEIGHTS[k] for k in MERCHANT_CATEGORIES])
        self.terminal_category = rng.choice(len(MERCHANT_CATEGORIES), size=t, p=base / base.sum())
        # Drift in the category mix moves where customers shop, not which terminals exist.
        shift = np.array([config.category_shift.get(k, 1.0) for k in MERCHANT_CATEGORIES])
        self.terminal_weight = shift[self.terminal_category]
        self._nearby(rng)

    def _nearby(self, rng: np.random.Generator) -> None:
        """CSR lists of terminals within NEARBY_RADIUS_KM of each home (the nearest one if none is)."""
        starts, members = [0], []
        for home in self.home:
            distance = np.hypot(*(self.terminal_xy - home).T)
            close = np.flatnonzero(distance <= NEARBY_RADIUS_KM)
            if close.size == 0 or self.terminal_weight[close].sum() == 0:
                close = np.array([np.argmin(np.where(self.terminal_weight > 0, distance, np.inf))])
            members.append(close)
            starts.append(starts[-1] + close.size)
        self.nearby_start = np.array(starts)
        self.nearby = np.concatenate(members)
        self.nearby_cumweight = np.cumsum(self.terminal_weight[self.nearby])

    def pick_nearby_terminal(self, customers: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        lo = np.where(
            self.nearby_start[customers] > 0, self.nearby_cumweight[self.nearby_start[customers] - 1], 0
        )
        hi = self.nearby_cumweight[self.nearby_start[customers + 1] - 1]
        target = lo + rng.uniform(0, 1, size=customers.size) * (hi - lo)
        index = np.searchsorted(self.nearby_cumweight, target, side="right")
        index = np.clip(index, self.nearby_start[customers], self.nearby_start[customers + 1] - 1)
        return self.nearby[index]

    def pick_any_terminal(self, n: int, rng: np.random.Generator) -> np.ndarray:
        weight = self.terminal_weight
        return rng.choice(len(weight), size=n, p=weight / weight.sum())

    def usual_device(self, customers: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        slot = rng.integers(0, self.n_devices[customers])
        return np.char.add(np.char.add("dev-c", customers.astype(str)), np.char.add("-", slot.astype(str)))


def _frame(world, customers, terminals, ts_ms, amounts, devices, scenario) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_index": customers,
            "terminal_index": terminals,
            "timestamp_ms": ts_ms.astype(np.int64),
            "amount": amounts,
            "device_id": devices,
            "scenario": scenario,
        }
    )


def _new_devices(prefix: str, n: int, rng: np.random.Generator) -> np.ndarray:
    return np.char.add(f"dev-{prefix}-", rng.integers(0, 2**40, size=n).astype(str))


def _legitimate(config: SimulationConfig, world: _World, rng: np.random.Generator) -> pd.DataFrame:
    counts = rng.poisson(np.repeat(world.tx_per_day[:, None], config.n_days, axis=1))
    customers, days = np.nonzero(counts)
    repeats = counts[customers, days]
    customers, days = np.repeat(customers, repeats), np.repeat(days, repeats)
    n = customers.size
    time_of_day = rng.normal(13 * 3600_000, 5 * 3600_000, size=n).astype(np.int64) % MS_PER_DAY
    ts = config.start_ms + days.astype(np.int64) * MS_PER_DAY + time_of_day

    amounts = np.abs(rng.normal(world.mean_amount[customers], world.std_amount[customers]))
    big_purchase = rng.uniform(size=n) < 0.003
    amounts = np.where(big_purchase, amounts * rng.uniform(4, 10, size=n), amounts)

    terminals = world.pick_nearby_terminal(customers, rng)
    # Small in-app payments make tiny online amounts ordinary, not a fraud signature on their own.
    online = MERCHANT_CATEGORIES.index("online_retail")
    micro = (world.terminal_category[terminals] == online) & (rng.uniform(size=n) < 0.3)
    amounts = np.where(micro, rng.uniform(0.5, 5, size=n), amounts)
    travelling = rng.uniform(size=n) < 0.03
    terminals[travelling] = world.pick_any_terminal(int(travelling.sum()), rng)

    devices = world.usual_device(customers, rng)
    new_device = rng.uniform(size=n) < 0.03
    devices[new_device] = _new_devices("legit", int(new_device.sum()), rng)
    return _frame(world, customers, terminals, ts, amounts, devices, "none")


def _per_day(rate: float, config: SimulationConfig, rng: np.random.Generator) -> np.ndarray:
    """Day index of each occurrence of a scenario happening `rate` times a day on average."""
    counts = rng.poisson(rate * config.fraud_rate_scale, size=config.n_days)
    return np.repeat(np.arange(config.n_days), counts)


def _random_times(config: SimulationConfig, days: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return config.start_ms + days.astype(np.int64) * MS_PER_DAY + rng.integers(0, MS_PER_DAY, size=days.size)


def _large_amounts(config, world, rng) -> pd.DataFrame:
    days = _per_day(config.large_amount_per_day, config, rng)
    customers = rng.integers(0, config.n_customers, size=days.size)
    amounts = rng.uniform(400, 2000, size=days.size)
    return _frame(
        world,
        customers,
        world.pick_nearby_terminal(customers, rng),
        _random_times(config, days, rng),
        amounts,
        world.usual_device(customers, rng),
        "large_amount",
    )


def _compromised_cards(config, world, rng) -> pd.DataFrame:
    """A stolen card is used for a week: larger amounts than usual, mostly from a new device, far away."""
    days = _per_day(config.compromised_cards_per_day, config, rng)
    victims = rng.integers(0, config.n_customers, size=days.size)
    uses = rng.poisson(4, size=days.size) + 1
    customers, first_day = np.repeat(victims, uses), np.repeat(days, uses)
    day = np.minimum(first_day + rng.integers(0, 7, size=customers.size), config.n_days - 1)
    n = customers.size
    amounts = world.mean_amount[customers] * rng.uniform(2, 6, size=n)
    terminals = world.pick_nearby_terminal(customers, rng)
    far = rng.uniform(size=n) < 0.5
    terminals[far] = world.pick_any_terminal(int(far.sum()), rng)
    devices = world.usual_device(customers, rng)
    attacker_device = rng.uniform(size=n) < 0.6
    devices[attacker_device] = _new_devices("x", int(attacker_device.sum()), rng)
    return _frame(
        world, customers, terminals, _random_times(config, day, rng), amounts, devices, "compromised_card"
    )


def _card_testing(config, world, rng) -> pd.DataFrame:
    """Bursts of tiny online payments a few seconds apart, from one attacker device."""
    days = _per_day(config.card_testing_bursts_per_day, config, rng)
    online = np.flatnonzero(world.terminal_category == MERCHANT_CATEGORIES.index("online_retail"))
    if online.size == 0 or days.size == 0:
        return _frame(
            world, *(np.array([], dtype=t) for t in (int, int, np.int64, float, str)), "card_testing"
        )
    sizes = rng.integers(5, 13, size=days.size)
    burst = np.repeat(np.arange(days.size), sizes)
    start = _random_times(config, days, rng)[burst]
    gaps = rng.integers(5_000, 90_000, size=burst.size)
    offset = np.cumsum(gaps) - np.repeat(np.cumsum(gaps)[np.cumsum(sizes) - sizes], sizes)
    customers = rng.integers(0, config.n_customers, size=days.size)[burst]
    terminals = rng.choice(online, size=days.size)[burst]
    devices = _new_devices("t", days.size, rng)[burst]
    amounts = rng.uniform(0.5, 3, size=burst.size)
    return _frame(world, customers, terminals, start + offset, amounts, devices, "card_testing")


def _compromise_terminals(config, world, events: pd.DataFrame, rng) -> None:
    """Skimmed terminals: for some days a share of the transactions there are fraudulent."""
    days = _per_day(config.compromised_terminals_per_day, config, rng)
    hit = rng.integers(0, config.n_terminals, size=days.size)
    event_day = (events["timestamp_ms"].to_numpy() - config.start_ms) // MS_PER_DAY
    terminal = events["terminal_index"].to_numpy()
    legit = events["scenario"].to_numpy() == "none"
    scenario = events["scenario"].to_numpy().copy()
    for day, term in zip(days, hit, strict=True):
        window = (
            (terminal == term) & (event_day > day) & (event_day <= day + config.compromised_terminal_days)
        )
        chosen = window & legit & (rng.uniform(size=len(events)) < config.compromised_terminal_fraud_share)
        scenario[chosen] = "compromised_terminal"
    events["scenario"] = scenario


def simulate(config: SimulationConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (events, labels), both in time order and joined by request_id."""
    rng = np.random.default_rng(config.seed)
    world = _World(config, rng)
    parts = [
        _legitimate(config, world, rng),
        _large_amounts(config, world, rng),
        _compromised_cards(config, world, rng),
        _card_testing(config, world, rng),
    ]
    events = pd.concat(parts, ignore_index=True)
    events = events[events["timestamp_ms"] < config.start_ms + config.n_days * MS_PER_DAY]
    events = events.sort_values("timestamp_ms", kind="stable").reset_index(drop=True)
    _compromise_terminals(config, world, events, rng)

    customers = events["customer_index"].to_numpy()
    terminals = events["terminal_index"].to_numpy()
    delta = world.terminal_xy[terminals] - world.home[customers]
    n = len(events)
    request_ids = np.char.add(f"tx-{config.seed}-", np.char.zfill(np.arange(n).astype(str), 8))
    out = pd.DataFrame(
        {
            "request_id": request_ids,
            "customer_id": np.char.add("C", np.char.zfill(customers.astype(str), 6)),
            "terminal_id": np.char.add("T", np.char.zfill(terminals.astype(str), 6)),
            "merchant_category": np.array(MERCHANT_CATEGORIES)[world.terminal_category[terminals]],
            "amount": np.round(events["amount"].to_numpy() * config.amount_scale, 2).clip(0.01),
            "timestamp": pd.to_datetime(events["timestamp_ms"], unit="ms", utc=True),
            "timestamp_ms": events["timestamp_ms"].to_numpy(),
            "device_id": events["device_id"].to_numpy(),
            "distance_from_home": np.round(np.hypot(delta[:, 0], delta[:, 1]), 3),
        }
    )
    labels = _labels(config, out, events["scenario"].to_numpy(), rng)
    return out, labels


def _labels(config, events: pd.DataFrame, scenario: np.ndarray, rng) -> pd.DataFrame:
    is_fraud = scenario != "none"
    maturity_ms = config.label_maturity_days * MS_PER_DAY
    delay_days = 1 + rng.gamma(2.0, (config.chargeback_mean_days - 1) / 2.0, size=len(events))
    delay_ms = np.minimum(delay_days * MS_PER_DAY, maturity_ms).astype(np.int64)
    available = events["timestamp_ms"].to_numpy() + np.where(is_fraud, delay_ms, maturity_ms)
    return pd.DataFrame(
        {
            "request_id": events["request_id"].to_numpy(),
            "is_fraud": is_fraud,
            "scenario": scenario,
            "label_available_ms": available,
            "label_available_at": pd.to_datetime(available, unit="ms", utc=True),
        }
    )
