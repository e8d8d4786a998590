"""A deterministic synthetic shop: catalogue, users in five segments, and session-shaped events.

`generate` is the one way to make it. The same arguments always give the same dataset (one
`numpy.random.default_rng(seed)` drives every draw, in a fixed order); every timestamp is an
offset from the `now` passed in, so nothing depends on the wall clock.

What the data is built to contain, so that rankers and tuners have real signal to find:

* **Catalogue** — 12 categories (two-level `category_path`), 4-6 brands each (a few brands span
  categories), 2-5 tags per item from the category's pool plus the global tags ``sale``, ``eco``
  and ``new``; lognormal prices per category; ``props.margin``. Items come in small *clusters*
  (a series or collection of ~5-20 items of one brand and category, ``props.cluster``) that share
  theme tags, a release date and shoppers. Base popularity is Zipf-like over a random permutation
  of the items. About 3% of items are unavailable and about 3% were created in the last 7 days
  (whole new collections, tagged ``new``); everything else was created up to a year ago.
* **Users** — five segments with their own category tastes, popularity/recency preferences,
  activity and timing (see `SEGMENTS`). ``new_users`` have 0-3 events, all since their recent
  signup; ``weekend_adventurers`` shop mostly on Saturdays and Sundays (UTC).
* **Events** — sessions: a session picks a category from the user's taste (92%, else any
  category), an anchor item in it, then further interactions mostly inside the anchor's cluster
  (co-visitation signal) or elsewhere in the category. Each interaction is a funnel on one item:
  view → click → add → purchase (about 64% / 22% / 9% / 5% of events). No event precedes the
  creation of its item, a user's sessions never overlap, and every timestamp lies strictly inside
  ``(now - days, now)``.

Events are columnar numpy arrays (`EventArrays`), sorted by time; API dicts are produced per slice
with `SyntheticDataset.event_dicts`, so a million events stay cheap.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt

from recsys.clock import to_micros
from recsys.offline.dataset import NamespaceData, namespace_data_from_records

__all__ = [
    "EVENT_TYPE_NAMES",
    "SEGMENTS",
    "SURFACES",
    "EventArrays",
    "SyntheticDataset",
    "generate",
]

SEGMENTS: tuple[str, ...] = (
    "power_users",
    "new_users",
    "niche_readers",
    "trend_seekers",
    "weekend_adventurers",
)
"""User segments, stored in ``traits.segment``; their index is the segment code used below."""

EVENT_TYPE_NAMES: tuple[str, ...] = ("view", "click", "add", "purchase")
"""Event type codes 0-3 as used by the API."""

SURFACES: tuple[str, ...] = ("home", "search", "email", "pdp")
"""Values of ``meta.surface``; `EventArrays.surface` holds an index into this tuple."""

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

_SECOND_US = 1_000_000
_MINUTE_US = 60 * _SECOND_US
_HOUR_US = 60 * _MINUTE_US
_DAY_US = 24 * _HOUR_US
_MAX_DAYS = 3650.0

# Catalogue shape.
_ZIPF_EXPONENT = 1.0
_NEW_ITEM_SHARE = 0.03
_NEW_ITEM_DAYS = 7.0
_UNAVAILABLE_SHARE = 0.03
_CATALOGUE_DAYS = 365.0
_SALE_SHARE = 0.12
_ECO_SHARE = 0.08
_THEME_TAGS = 3

# Behaviour.
_P_EXPLORE = 0.08  # sessions outside the user's taste categories
_P_STAY_IN_CLUSTER = 0.65  # later interactions of a session that stay in the anchor's cluster
_FUNNEL_DEPTH_P = (0.63, 0.21, 0.07, 0.09)  # an interaction ends after view/click/add/purchase
_NEW_USER_EVENTS_P = (0.25, 0.35, 0.25, 0.15)  # 0, 1, 2 or 3 events
_ENTRY_SURFACE_P = (0.5, 0.3, 0.2)  # home, search, email
_PDP = SURFACES.index("pdp")
_SESSION_GAP_US = 10 * _MINUTE_US  # minimum quiet time between two sessions of a user
_UNAVAILABLE_WEIGHT = 0.4  # sold-out items were bought less, not never


@dataclass(frozen=True)
class _CategorySpec:
    path: tuple[str, str]
    share: float  # of the catalogue
    brands: tuple[str, ...]
    tags: tuple[str, ...]
    nouns: tuple[str, ...]
    price_median: float
    price_sigma: float
    margin: tuple[float, float]


_CATEGORIES: tuple[_CategorySpec, ...] = (
    _CategorySpec(
        ("books", "fiction"),
        0.11,
        ("Penguin Lane", "Harbor Press", "Quillstone", "Northlight", "Paper Lantern", "Atlas"),
        (
            "mystery",
            "romance",
            "sci-fi",
            "fantasy",
            "thriller",
            "literary",
            "historical",
            "short-stories",
            "paperback",
            "hardcover",
        ),
        ("Novel", "Saga", "Chronicles", "Stories", "Box Set"),
        14.0,
        0.35,
        (0.15, 0.35),
    ),
    _CategorySpec(
        ("books", "comics"),
        0.06,
        ("Inkwell", "Panel Nine", "Harbor Press", "Kite Comics"),
        (
            "manga",
            "superhero",
            "graphic-novel",
            "indie",
            "horror",
            "humor",
            "collector",
            "omnibus",
            "webcomic",
        ),
        ("Volume", "Omnibus", "Graphic Novel", "Collection"),
        18.0,
        0.4,
        (0.15, 0.4),
    ),
    _CategorySpec(
        ("music", "vinyl"),
        0.05,
        ("Groove Cellar", "Blue Hour Records", "Analog Lane", "Waxworks", "Northlight"),
        (
            "jazz",
            "rock",
            "classical",
            "electronic",
            "folk",
            "soul",
            "reissue",
            "limited-edition",
            "180g",
        ),
        ("LP", "Double LP", "Box Set", "EP"),
        28.0,
        0.35,
        (0.2, 0.4),
    ),
    _CategorySpec(
        ("home", "kitchen"),
        0.10,
        ("Casa Verde", "Ironleaf", "Copperpot", "Nordhem", "Brightside"),
        (
            "cookware",
            "knives",
            "baking",
            "coffee",
            "storage",
            "cast-iron",
            "dishwasher-safe",
            "stainless",
            "non-stick",
            "gadgets",
        ),
        ("Skillet", "Chef Knife", "Dutch Oven", "Mixing Bowls", "Kettle", "Cutting Board"),
        35.0,
        0.6,
        (0.25, 0.55),
    ),
    _CategorySpec(
        ("home", "decor"),
        0.09,
        ("Nordhem", "Linen & Loom", "Casa Verde", "Hearthstone", "Lumen"),
        (
            "lighting",
            "textiles",
            "candles",
            "wall-art",
            "plants",
            "vases",
            "minimalist",
            "boho",
            "rugs",
        ),
        ("Lamp", "Throw", "Vase", "Candle", "Print", "Cushion"),
        30.0,
        0.6,
        (0.3, 0.6),
    ),
    _CategorySpec(
        ("electronics", "audio"),
        0.08,
        ("Sonora", "Pulse Audio", "Altec Ridge", "Brightside", "Northlight"),
        (
            "headphones",
            "wireless",
            "noise-cancelling",
            "speakers",
            "bluetooth",
            "hi-fi",
            "portable",
            "earbuds",
            "microphones",
        ),
        ("Headphones", "Earbuds", "Speaker", "Soundbar", "Turntable"),
        90.0,
        0.7,
        (0.1, 0.3),
    ),
    _CategorySpec(
        ("electronics", "computing"),
        0.09,
        ("Voltra", "Keystone", "Pixelforge", "Brightside", "Nimbus", "Arcline"),
        (
            "laptops",
            "keyboards",
            "mice",
            "monitors",
            "storage",
            "usb-c",
            "gaming",
            "ergonomic",
            "accessories",
            "networking",
        ),
        ("Keyboard", "Mouse", "Monitor", "Laptop Stand", "SSD", "Dock", "Router"),
        80.0,
        0.8,
        (0.05, 0.25),
    ),
    _CategorySpec(
        ("fashion", "apparel"),
        0.12,
        ("Urban Thread", "Linen & Loom", "Marlow", "Fjellkind", "Saltwater", "Ostra"),
        (
            "shirts",
            "dresses",
            "jackets",
            "denim",
            "knitwear",
            "basics",
            "organic-cotton",
            "summer",
            "winter",
            "formal",
            "casual",
        ),
        ("T-Shirt", "Jacket", "Sweater", "Jeans", "Dress", "Shirt"),
        40.0,
        0.5,
        (0.35, 0.65),
    ),
    _CategorySpec(
        ("beauty", "skincare"),
        0.08,
        ("Dewdrop", "Botanica", "Pure Form", "Lumen"),
        (
            "moisturizer",
            "serum",
            "sunscreen",
            "cleanser",
            "vegan",
            "fragrance-free",
            "anti-aging",
            "sensitive-skin",
            "spf",
        ),
        ("Serum", "Moisturizer", "Cleanser", "Face Mask", "Sunscreen"),
        22.0,
        0.5,
        (0.4, 0.7),
    ),
    _CategorySpec(
        ("sports", "running"),
        0.07,
        ("Stride", "Fjellkind", "Apex Trail", "Saltwater", "Velox"),
        (
            "shoes",
            "trail",
            "road",
            "apparel",
            "hydration",
            "gps",
            "reflective",
            "lightweight",
            "marathon",
        ),
        ("Running Shoes", "Trail Shoes", "Running Vest", "Hydration Pack", "Tights"),
        60.0,
        0.5,
        (0.2, 0.45),
    ),
    _CategorySpec(
        ("outdoor", "camping"),
        0.07,
        ("Fjellkind", "Apex Trail", "Northwind", "Basecamp Co.", "Ridgeline"),
        (
            "tents",
            "sleeping-bags",
            "backpacks",
            "stoves",
            "lanterns",
            "ultralight",
            "waterproof",
            "hiking",
            "family",
        ),
        ("Tent", "Sleeping Bag", "Backpack", "Camp Stove", "Lantern", "Trekking Poles"),
        75.0,
        0.7,
        (0.2, 0.45),
    ),
    _CategorySpec(
        ("sports", "cycling"),
        0.08,
        ("Velox", "Northwind", "Chainline", "Apex Trail", "Spoke & Sprocket"),
        (
            "helmets",
            "lights",
            "road-bike",
            "mtb",
            "tools",
            "bike-bags",
            "jerseys",
            "gloves",
            "commuting",
        ),
        ("Helmet", "Bike Light", "Saddle Bag", "Multi-Tool", "Jersey", "Pump"),
        45.0,
        0.7,
        (0.2, 0.45),
    ),
)
_CATEGORY_INDEX = {spec.path[1]: index for index, spec in enumerate(_CATEGORIES)}

_SERIES = (
    "Alpine",
    "Harbor",
    "Summit",
    "Coastal",
    "Urban",
    "Nordic",
    "Meadow",
    "Ember",
    "Atlas",
    "Horizon",
    "Cedar",
    "Drift",
    "Aurora",
    "Granite",
    "Solstice",
    "Tide",
    "Voyager",
    "Willow",
    "Zephyr",
    "Canyon",
    "Orbit",
    "Prairie",
    "Quartz",
    "Sierra",
)

_LOCALES = ("en-US", "en-GB", "de-DE", "fr-FR", "es-ES", "sv-SE", "nl-NL")
_LOCALE_P = (0.35, 0.15, 0.15, 0.12, 0.1, 0.06, 0.07)


@dataclass(frozen=True)
class _SegmentProfile:
    share: float  # of users
    activity: float  # relative mean event count (new users use _NEW_USER_EVENTS_P instead)
    taste_size: tuple[int, int]  # inclusive range of preferred categories
    affinity: dict[str, float]  # category leaf -> weight when picking tastes; empty = by share
    popularity_exponent: float  # item weight = popularity ** exponent (< 1 favours the tail)
    recency_boost: float  # extra weight for items created in the last ~45 days
    session_length: float  # mean events per session
    weekend_share: float  # share of sessions deliberately placed on Saturday/Sunday (UTC)
    recent_skew: float  # session density grows by this factor from (now - days) to now
    signup_days: tuple[float, float]  # range of signup age


_SEGMENT_PROFILES: tuple[_SegmentProfile, ...] = (
    _SegmentProfile(  # power_users
        share=0.15,
        activity=8.0,
        taste_size=(3, 4),
        affinity={},
        popularity_exponent=0.9,
        recency_boost=0.5,
        session_length=8.0,
        weekend_share=0.0,
        recent_skew=0.0,
        signup_days=(120.0, 1500.0),
    ),
    _SegmentProfile(  # new_users
        share=0.25,
        activity=0.0,
        taste_size=(1, 2),
        affinity={
            "apparel": 1.5,
            "skincare": 1.2,
            "audio": 1.2,
            "kitchen": 1.0,
            "decor": 0.8,
            "computing": 0.8,
            "fiction": 0.6,
            "running": 0.4,
        },
        popularity_exponent=1.2,
        recency_boost=0.5,
        session_length=2.0,
        weekend_share=0.0,
        recent_skew=0.0,
        signup_days=(0.05, 7.0),
    ),
    _SegmentProfile(  # niche_readers
        share=0.20,
        activity=1.6,
        taste_size=(1, 2),
        affinity={"fiction": 1.0, "comics": 1.0, "vinyl": 1.0},
        popularity_exponent=0.2,
        recency_boost=0.0,
        session_length=5.0,
        weekend_share=0.0,
        recent_skew=0.0,
        signup_days=(14.0, 1500.0),
    ),
    _SegmentProfile(  # trend_seekers
        share=0.25,
        activity=2.0,
        taste_size=(2, 3),
        affinity={
            "audio": 1.5,
            "computing": 1.2,
            "apparel": 1.5,
            "skincare": 1.2,
            "decor": 0.8,
            "kitchen": 0.5,
            "running": 0.5,
        },
        popularity_exponent=1.25,
        recency_boost=12.0,
        session_length=6.0,
        weekend_share=0.0,
        recent_skew=1.0,
        signup_days=(14.0, 1500.0),
    ),
    _SegmentProfile(  # weekend_adventurers
        share=0.15,
        activity=1.6,
        taste_size=(2, 3),
        affinity={"running": 1.0, "camping": 1.2, "cycling": 1.0},
        popularity_exponent=0.9,
        recency_boost=0.5,
        session_length=7.0,
        weekend_share=0.85,
        recent_skew=0.0,
        signup_days=(14.0, 1500.0),
    ),
)
_NEW_USERS = SEGMENTS.index("new_users")


# --- public containers ------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class EventArrays:
    """Columnar events sorted by time (ties in a fixed order); row ``n`` has id ``ev-{seed}-{n}``.

    ``user_index``/``item_index`` index `SyntheticDataset.users`/``items``; ``type`` is 0 view,
    1 click, 2 add, 3 purchase; ``value`` is 1.0; ``ts_us`` is UTC microseconds since the epoch;
    ``session_index`` numbers sessions (``meta.session_id`` is ``s-{seed}-{session_index}``);
    ``surface`` indexes `SURFACES`. The arrays are read-only.
    """

    user_index: npt.NDArray[np.int32]
    item_index: npt.NDArray[np.int32]
    type: npt.NDArray[np.int8]
    value: npt.NDArray[np.float32]
    ts_us: npt.NDArray[np.int64]
    session_index: npt.NDArray[np.int32]
    surface: npt.NDArray[np.int8]
    seed: int

    def __len__(self) -> int:
        return int(self.ts_us.shape[0])

    def event_id(self, n: int) -> str:
        """The deterministic, unique id of row ``n``."""
        if not 0 <= n < len(self):
            raise IndexError(f"event {n} out of range 0..{len(self) - 1}")
        return f"ev-{self.seed}-{n}"

    def event_ids(self, start: int, stop: int) -> list[str]:
        """Ids of rows ``start:stop`` (slice semantics)."""
        lo, hi, _ = slice(start, stop).indices(len(self))
        return [f"ev-{self.seed}-{n}" for n in range(lo, hi)]


@dataclass(frozen=True, eq=False)
class SyntheticDataset:
    """A generated shop: API-shaped item and user dicts plus columnar events.

    ``items`` dicts carry ``item_id, title, brand, category, category_path, tags, price,
    available, created_at`` (RFC3339, ``Z``) and ``props {"margin", "cluster"}``; ``users`` dicts
    carry ``user_id`` and ``traits {segment, locale, signup_days_ago}``. Both are valid bodies for
    the ingest endpoints; treat them as read-only.
    """

    items: list[dict[str, Any]]
    users: list[dict[str, Any]]
    events: EventArrays
    seed: int
    now: datetime
    days: float

    @cached_property
    def _item_ids(self) -> list[str]:
        return [item["item_id"] for item in self.items]

    @cached_property
    def _user_ids(self) -> list[str]:
        return [user["user_id"] for user in self.users]

    @cached_property
    def user_segment(self) -> npt.NDArray[np.int8]:
        """Segment code (index into `SEGMENTS`) of each user, aligned with ``users``."""
        code = {name: index for index, name in enumerate(SEGMENTS)}
        return np.array([code[user["traits"]["segment"]] for user in self.users], dtype=np.int8)

    def event_dicts(self, start: int, stop: int) -> list[dict[str, Any]]:
        """API event dicts for rows ``start:stop`` (slice semantics), ready for ``events:batch``.

        Each has ``event_id, user_id, item_id, type`` (int 0-3), ``value``, ``ts`` (RFC3339 with
        microseconds and ``Z``) and ``meta {"surface", "session_id"}``.
        """
        ev = self.events
        lo, hi, _ = slice(start, stop).indices(len(ev))
        users, items, seed = self._user_ids, self._item_ids, self.seed
        rows = zip(
            range(lo, hi),
            ev.user_index[lo:hi].tolist(),
            ev.item_index[lo:hi].tolist(),
            ev.type[lo:hi].tolist(),
            ev.value[lo:hi].tolist(),
            _rfc3339(ev.ts_us[lo:hi]),
            ev.surface[lo:hi].tolist(),
            ev.session_index[lo:hi].tolist(),
            strict=True,
        )
        return [
            {
                "event_id": f"ev-{seed}-{n}",
                "user_id": users[user],
                "item_id": items[item],
                "type": kind,
                "value": value,
                "ts": ts,
                "meta": {"surface": SURFACES[surface], "session_id": f"s-{seed}-{session}"},
            }
            for n, user, item, kind, value, ts, surface, session in rows
        ]

    def namespace_data(self) -> NamespaceData:
        """The whole dataset as the offline evaluator and the tuning harness take it (events
        without their `meta`, which only the API carries)."""
        events = [
            {k: v for k, v in event.items() if k != "meta"}
            for event in self.event_dicts(0, len(self.events))
        ]
        return namespace_data_from_records(items=self.items, users=self.users, events=events)

    def segment_counts(self) -> dict[str, int]:
        """Users per segment, every segment present (possibly 0), in `SEGMENTS` order."""
        counts = np.bincount(self.user_segment, minlength=len(SEGMENTS))
        return {name: int(counts[index]) for index, name in enumerate(SEGMENTS)}

    def stats(self) -> dict[str, Any]:
        """A JSON-ready summary: sizes, events per type and segment, long-tail share, time span."""
        ev = self.events
        n_events = len(ev)
        n_items = len(self.items)
        per_type = np.bincount(ev.type, minlength=len(EVENT_TYPE_NAMES))
        per_segment = np.bincount(self.user_segment[ev.user_index], minlength=len(SEGMENTS))
        per_user = np.bincount(ev.user_index, minlength=len(self.users))
        per_item = np.bincount(ev.item_index, minlength=n_items)
        top_n = max(1, math.ceil(0.1 * n_items)) if n_items else 0
        top_share = (
            float(np.sort(per_item)[::-1][:top_n].sum() / n_events) if n_events and n_items else 0.0
        )
        first = int(ev.ts_us[0]) if n_events else None
        last = int(ev.ts_us[-1]) if n_events else None
        return {
            "items": n_items,
            "users": len(self.users),
            "events": n_events,
            "sessions": int(np.unique(ev.session_index).size),
            "events_per_type": {
                name: int(per_type[index]) for index, name in enumerate(EVENT_TYPE_NAMES)
            },
            "users_per_segment": self.segment_counts(),
            "events_per_segment": {
                name: int(per_segment[index]) for index, name in enumerate(SEGMENTS)
            },
            "users_without_events": int((per_user == 0).sum()),
            "distinct_items_touched": int((per_item > 0).sum()),
            "top10pct_item_share": round(top_share, 4),
            "unavailable_items": sum(1 for item in self.items if not item["available"]),
            "new_items": sum(1 for item in self.items if "new" in item["tags"]),
            "time_span": {
                "first_ts": _rfc3339(np.array([first]))[0] if first is not None else None,
                "last_ts": _rfc3339(np.array([last]))[0] if last is not None else None,
                "span_days": round((last - first) / _DAY_US, 3)
                if first is not None and last is not None
                else 0.0,
                "window_days": self.days,
            },
        }


# --- generation -------------------------------------------------------------------------------


def generate(
    *,
    n_items: int,
    n_users: int,
    n_events: int,
    now: datetime,
    seed: int = 2025,
    days: float = 90.0,
) -> SyntheticDataset:
    """Generate the synthetic shop: exactly ``n_items`` items, ``n_users`` users, ``n_events``.

    ``now`` must be timezone-aware; every event timestamp is strictly inside ``(now - days,
    now)`` and every ``created_at`` is before ``now`` (up to a year, or ``days + 30``, earlier).
    The output is a pure function of the arguments. Events need at least one item and one user.
    """
    for name, size in (("n_items", n_items), ("n_users", n_users), ("n_events", n_events)):
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise ValueError(f"{name} must be a non-negative int, got {size!r}")
    if not 1.0 / 24.0 <= days <= _MAX_DAYS:
        raise ValueError(f"days must be between 1/24 and {_MAX_DAYS:g}, got {days!r}")
    if n_events and (n_items == 0 or n_users == 0):
        raise ValueError("events need at least one item and one user")
    now_us = to_micros(now)  # raises on a naive datetime
    days_us = round(days * _DAY_US)
    rng = np.random.default_rng(seed)

    catalogue = _build_catalogue(rng, n_items=n_items, now_us=now_us, days=days)
    population = _build_population(rng, n_users=n_users, nonempty=catalogue.category_size > 0)
    events = _build_events(
        rng,
        catalogue=catalogue,
        population=population,
        n_events=n_events,
        now_us=now_us,
        days_us=days_us,
        seed=seed,
    )
    return SyntheticDataset(
        items=catalogue.dicts,
        users=population.dicts,
        events=events,
        seed=seed,
        now=now,
        days=float(days),
    )


@dataclass(frozen=True, eq=False)
class _Catalogue:
    """Items in *internal* order: by category, then cluster release, so that "what was on sale at
    time t in category c" is a prefix and a cluster is a contiguous range."""

    category_size: IntArray  # items per category
    category_lo: IntArray  # offsets, length n_categories + 1
    cluster: IntArray  # cluster of each item
    cluster_lo: IntArray  # per cluster [lo, hi)
    cluster_hi: IntArray
    released_key: IntArray  # category * key_span + (cluster release - key_base), nondecreasing
    key_base: int
    key_span: int
    age_days: FloatArray  # item age at `now`
    popularity: FloatArray
    available: npt.NDArray[np.bool_]
    public_index: IntArray  # internal -> position in `dicts`
    dicts: list[dict[str, Any]]


@dataclass(frozen=True, eq=False)
class _Population:
    segment: IntArray
    signup_age_us: IntArray
    taste: FloatArray  # (n_users, n_categories), rows sum to 1 over preferred categories
    new_user_events: IntArray  # wanted event count of each new user
    activity: FloatArray  # relative activity of other users
    dicts: list[dict[str, Any]]


def _apportion(total: int, weights: Sequence[float]) -> IntArray:
    """Split ``total`` into integers proportional to ``weights`` (largest remainder, stable)."""
    share = np.asarray(weights, dtype=np.float64)
    exact = share / share.sum() * total
    counts = np.floor(exact).astype(np.int64)
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[: total - int(counts.sum())]] += 1
    return counts


def _cluster_sizes(rng: np.random.Generator, n: int) -> list[int]:
    """Sizes of ~5-20 summing to ``n``; a tail fragment under 3 joins the previous cluster."""
    draws = np.minimum(4 + rng.geometric(0.14, size=n // 5 + 2), 20)
    ends = np.cumsum(draws)
    k = int(np.searchsorted(ends, n)) + 1
    sizes = draws[:k].tolist()
    sizes[-1] = n - int(ends[k - 2]) if k > 1 else n
    if len(sizes) > 1 and sizes[-1] < 3:
        tail = sizes.pop()
        sizes[-1] += tail
    return [int(size) for size in sizes]


def _rfc3339(ts_us: npt.NDArray[np.int64]) -> list[str]:
    text = np.datetime_as_string(ts_us.astype("datetime64[us]"), unit="us")
    return [f"{value}Z" for value in text.tolist()]


def _build_catalogue(
    rng: np.random.Generator, *, n_items: int, now_us: int, days: float
) -> _Catalogue:
    n_cat = len(_CATEGORIES)
    shares = [spec.share for spec in _CATEGORIES]
    if n_items >= n_cat:
        per_category = 1 + _apportion(n_items - n_cat, shares)
    else:
        per_category = _apportion(n_items, shares)

    # Clusters, laid out category by category.
    cl_category: list[int] = []
    cl_size: list[int] = []
    cl_brand: list[str] = []
    cl_series: list[str] = []
    cl_theme: list[IntArray] = []
    for c, spec in enumerate(_CATEGORIES):
        m = int(per_category[c])
        if m == 0:
            continue
        sizes = _cluster_sizes(rng, m)
        k = len(sizes)
        brand_weight = 1.0 / np.arange(1, len(spec.brands) + 1)
        brands = rng.choice(len(spec.brands), size=k, p=brand_weight / brand_weight.sum())
        series = rng.integers(len(_SERIES), size=k)
        theme = np.argsort(rng.random((k, len(spec.tags))), axis=1)[:, :_THEME_TAGS]
        cl_category += [c] * k
        cl_size += sizes
        cl_brand += [spec.brands[b] for b in brands.tolist()]
        cl_series += [_SERIES[s] for s in series.tolist()]
        cl_theme += list(theme)
    n_clusters = len(cl_size)
    category_of_cluster = np.array(cl_category, dtype=np.int64)
    size_of_cluster = np.array(cl_size, dtype=np.int64)

    # Release ages. The first cluster of each category predates the event window, so every
    # session finds something on sale; whole clusters form the ~3% of new items.
    span_days = max(_CATALOGUE_DAYS, days + 30.0)
    first_in_category = np.ones(n_clusters, dtype=bool)
    first_in_category[1:] = category_of_cluster[1:] != category_of_cluster[:-1]
    age = rng.uniform(_NEW_ITEM_DAYS + 3.0, span_days, n_clusters)
    old = rng.uniform(days + 5.0, span_days, n_clusters)
    age = np.where(first_in_category, old, age)
    candidates = rng.permutation(np.flatnonzero(~first_in_category))
    before = np.cumsum(size_of_cluster[candidates]) - size_of_cluster[candidates]
    fresh = candidates[before + size_of_cluster[candidates] / 2 <= _NEW_ITEM_SHARE * n_items]
    age[fresh] = rng.uniform(0.3, _NEW_ITEM_DAYS, fresh.size)

    # Items of a cluster appear over up to 3 days; the cluster is on sale once all are out.
    pre_cluster = np.repeat(np.arange(n_clusters), size_of_cluster)
    pre_cluster_age = age[pre_cluster]
    pre_age = pre_cluster_age - rng.random(n_items) * np.minimum(3.0, 0.5 * pre_cluster_age)
    pre_created = now_us - np.round(pre_age * _DAY_US).astype(np.int64)
    pre_lo = np.cumsum(size_of_cluster) - size_of_cluster
    released = np.maximum.reduceat(pre_created, pre_lo) if n_items else np.zeros(0, dtype=np.int64)
    cluster_order = np.lexsort((released, category_of_cluster))
    cluster_rank = np.empty(n_clusters, dtype=np.int64)
    cluster_rank[cluster_order] = np.arange(n_clusters)
    item_order = np.argsort(cluster_rank[pre_cluster], kind="stable")  # internal -> pre

    cluster = cluster_rank[pre_cluster][item_order]
    size_sorted = size_of_cluster[cluster_order]
    cluster_hi = np.cumsum(size_sorted)
    cluster_lo = cluster_hi - size_sorted
    category = category_of_cluster[cluster_order][cluster]
    age_days = pre_age[item_order]
    created_us = pre_created[item_order]
    released_item = released[cluster_order][cluster]
    key_base = now_us - int(span_days * _DAY_US) - _DAY_US
    key_span = now_us - key_base + _DAY_US
    released_key = category * key_span + (released_item - key_base)
    category_lo = np.concatenate(([0], np.cumsum(per_category))).astype(np.int64)

    # Popularity, availability, price, margin.
    popularity = np.power(rng.permutation(n_items) + 1.0, -_ZIPF_EXPONENT, dtype=np.float64)
    available = np.ones(n_items, dtype=bool)
    available[rng.choice(n_items, size=round(_UNAVAILABLE_SHARE * n_items), replace=False)] = False
    medians = np.array([spec.price_median for spec in _CATEGORIES])[category]
    sigmas = np.array([spec.price_sigma for spec in _CATEGORIES])[category]
    price = np.maximum(0.99, np.round(medians * np.exp(sigmas * rng.standard_normal(n_items)), 2))
    margin_lo = np.array([spec.margin[0] for spec in _CATEGORIES])[category]
    margin_hi = np.array([spec.margin[1] for spec in _CATEGORIES])[category]
    margin = np.round(margin_lo + (margin_hi - margin_lo) * rng.random(n_items), 3)

    # Tags: the cluster's theme tags first (mostly), then others from the category pool, plus
    # global tags; 2-5 in all.
    pool_size = np.array([len(spec.tags) for spec in _CATEGORIES])[category]
    width = max(len(spec.tags) for spec in _CATEGORIES)
    keys = rng.random((n_items, width))
    keys[np.arange(width)[None, :] >= pool_size[:, None]] = np.inf
    theme = np.array(cl_theme, dtype=np.int64).reshape(-1, _THEME_TAGS)[cluster_order][cluster]
    keys[np.arange(n_items)[:, None], theme] -= 0.6
    tag_order = np.argsort(keys, axis=1)
    is_new = age_days < _NEW_ITEM_DAYS
    on_sale = rng.random(n_items) < _SALE_SHARE
    eco = rng.random(n_items) < _ECO_SHARE
    n_global = is_new.astype(np.int64) + on_sale + eco
    n_category_tags = np.minimum(
        np.maximum(2, rng.integers(2, 6, size=n_items) - n_global), pool_size
    )
    noun = rng.integers(1 << 30, size=n_items)
    public_index = rng.permutation(n_items)

    brand_sorted = [cl_brand[c] for c in cluster_order.tolist()]
    series_sorted = [cl_series[c] for c in cluster_order.tolist()]
    created_text = _rfc3339(created_us)
    digits = max(5, len(str(max(n_items - 1, 0))))
    dicts: list[dict[str, Any]] = [{} for _ in range(n_items)]
    for i in range(n_items):
        spec = _CATEGORIES[int(category[i])]
        cl = int(cluster[i])
        tags = [spec.tags[j] for j in tag_order[i, : n_category_tags[i]].tolist()]
        tags += [
            tag for tag, flag in (("new", is_new[i]), ("sale", on_sale[i]), ("eco", eco[i])) if flag
        ]
        dicts[int(public_index[i])] = {
            "item_id": f"item-{int(public_index[i]):0{digits}d}",
            "title": f"{brand_sorted[cl]} {series_sorted[cl]} "
            f"{spec.nouns[int(noun[i]) % len(spec.nouns)]}",
            "brand": brand_sorted[cl],
            "category": spec.path[1],
            "category_path": list(spec.path),
            "tags": tags,
            "price": float(price[i]),
            "available": bool(available[i]),
            "created_at": created_text[i],
            "props": {"margin": float(margin[i]), "cluster": f"{spec.path[1]}-{cl:04d}"},
        }

    return _Catalogue(
        category_size=per_category.astype(np.int64),
        category_lo=category_lo,
        cluster=cluster.astype(np.int64),
        cluster_lo=cluster_lo.astype(np.int64),
        cluster_hi=cluster_hi.astype(np.int64),
        released_key=released_key.astype(np.int64),
        key_base=key_base,
        key_span=key_span,
        age_days=age_days,
        popularity=popularity,
        available=available,
        public_index=public_index.astype(np.int64),
        dicts=dicts,
    )


def _build_population(
    rng: np.random.Generator, *, n_users: int, nonempty: npt.NDArray[np.bool_]
) -> _Population:
    n_cat = len(_CATEGORIES)
    counts = _apportion(n_users, [profile.share for profile in _SEGMENT_PROFILES])
    segment = rng.permutation(np.repeat(np.arange(len(SEGMENTS)), counts)).astype(np.int64)

    lo = np.array([p.signup_days[0] for p in _SEGMENT_PROFILES])[segment]
    hi = np.array([p.signup_days[1] for p in _SEGMENT_PROFILES])[segment]
    signup_days = lo + (hi - lo) * rng.random(n_users)
    signup_age_us = np.round(signup_days * _DAY_US).astype(np.int64)
    locale = rng.choice(len(_LOCALES), size=n_users, p=_LOCALE_P)

    # Tastes: k preferred categories per user, drawn without replacement (Gumbel top-k) from the
    # segment's affinities over the categories that have items.
    default = np.array([spec.share for spec in _CATEGORIES])
    affinity = np.zeros((len(SEGMENTS), n_cat))
    for s, profile in enumerate(_SEGMENT_PROFILES):
        row = default.copy()
        if profile.affinity:
            row = np.zeros(n_cat)
            for leaf, weight in profile.affinity.items():
                row[_CATEGORY_INDEX[leaf]] = weight
        row = row * nonempty
        affinity[s] = row if row.sum() > 0 else nonempty.astype(np.float64)
    user_affinity = affinity[segment]
    positive = user_affinity > 0
    log_affinity = np.where(positive, np.log(np.where(positive, user_affinity, 1.0)), -np.inf)
    keys = log_affinity + rng.gumbel(size=(n_users, n_cat))
    k_lo = np.array([p.taste_size[0] for p in _SEGMENT_PROFILES])[segment]
    k_hi = np.array([p.taste_size[1] for p in _SEGMENT_PROFILES])[segment]
    k = np.minimum(rng.integers(k_lo, k_hi + 1), positive.sum(axis=1))
    rank = np.argsort(np.argsort(-keys, axis=1), axis=1)
    chosen = rank < k[:, None]
    taste = rng.gamma(2.0, size=(n_users, n_cat)) * chosen
    totals = taste.sum(axis=1, keepdims=True)
    taste = np.divide(taste, totals, out=np.zeros_like(taste), where=totals > 0)

    new_user_events = rng.choice(len(_NEW_USER_EVENTS_P), size=n_users, p=_NEW_USER_EVENTS_P)
    activity_mean = np.array([p.activity for p in _SEGMENT_PROFILES])[segment]
    activity = np.where(
        segment == _NEW_USERS, 0.0, activity_mean * rng.lognormal(0.0, 0.7, n_users)
    )

    digits = max(5, len(str(max(n_users - 1, 0))))
    dicts = [
        {
            "user_id": f"user-{u:0{digits}d}",
            "traits": {
                "segment": SEGMENTS[s],
                "locale": _LOCALES[loc],
                "signup_days_ago": int(d),
            },
        }
        for u, (s, loc, d) in enumerate(
            zip(segment.tolist(), locale.tolist(), signup_days.tolist(), strict=True)
        )
    ]
    return _Population(
        segment=segment,
        signup_age_us=signup_age_us,
        taste=taste,
        new_user_events=new_user_events.astype(np.int64),
        activity=activity,
        dicts=dicts,
    )


def _allocate_events(rng: np.random.Generator, population: _Population, n_events: int) -> IntArray:
    """Events per user summing to ``n_events``: new users get their 0-3 (at most a quarter of
    all events), the rest goes to the others in proportion to activity."""
    n_users = population.segment.size
    counts = np.zeros(n_users, dtype=np.int64)
    is_new = population.segment == _NEW_USERS
    new_users = np.flatnonzero(is_new)
    others = np.flatnonzero(~is_new)
    if others.size == 0:  # only new users: they must take everything
        counts[new_users] = rng.multinomial(n_events, np.full(new_users.size, 1.0 / new_users.size))
        return counts
    wanted = population.new_user_events[new_users]
    budget = min(int(wanted.sum()), n_events // 4)
    if budget == int(wanted.sum()):
        counts[new_users] = wanted
    elif budget > 0:
        tickets = np.repeat(new_users, wanted)
        picked = tickets[rng.choice(tickets.size, size=budget, replace=False)]
        counts += np.bincount(picked, minlength=n_users)
    weights = population.activity[others]
    counts[others] = rng.multinomial(n_events - budget, weights / weights.sum())
    return counts


def _segment_cdfs(n_hours: int, grid_origin_us: int, now_rel: int, days_us: int) -> FloatArray:
    """Per segment, the cumulative session density over hourly bins starting at the origin.

    The origin is a whole UTC hour, so each bin lies in one UTC day (weekday known) and moving
    ``now`` by whole weeks moves everything by exactly that much.
    """
    bin_start = grid_origin_us + np.arange(n_hours, dtype=np.int64) * _HOUR_US
    weekend = ((bin_start // _DAY_US + 3) % 7) >= 5  # 1970-01-01 was a Thursday
    progress = np.clip((np.arange(n_hours) * _HOUR_US - (now_rel - days_us)) / days_us, 0.0, 1.0)
    cdfs = np.zeros((len(SEGMENTS), n_hours + 1))
    for s, profile in enumerate(_SEGMENT_PROFILES):
        density = (1.0 - profile.weekend_share) + profile.weekend_share * 3.5 * weekend
        density = density * (1.0 + profile.recent_skew * progress)
        cdfs[s, 1:] = np.cumsum(density)
    return cdfs


def _sample_ranges(
    cumulative: FloatArray, rows: IntArray, lo: IntArray, hi: IntArray, u: FloatArray
) -> IntArray:
    """For each draw, an index in ``[lo, hi)`` with probability proportional to the weights of
    row ``rows`` (``cumulative`` holds per-row normalised cumulative weights, row r offset by
    2r so the flattened array is sorted)."""
    stride = cumulative.shape[1]
    flat = cumulative.ravel()
    base = rows * stride
    c_lo = flat[base + lo]
    c_hi = flat[base + hi]
    position = np.searchsorted(flat, c_lo + u * (c_hi - c_lo), side="right") - 1 - base
    return np.clip(position, lo, hi - 1)


def _item_weights(catalogue: _Catalogue) -> FloatArray:
    rows = []
    recent = np.exp(-catalogue.age_days / 45.0)
    avail = np.where(catalogue.available, 1.0, _UNAVAILABLE_WEIGHT)
    for s, profile in enumerate(_SEGMENT_PROFILES):
        weight = catalogue.popularity**profile.popularity_exponent
        weight = weight * (1.0 + profile.recency_boost * recent) * avail
        cumulative = np.concatenate(([0.0], np.cumsum(weight)))
        rows.append(cumulative / cumulative[-1] + 2.0 * s)
    return np.array(rows)


def _empty_events(seed: int) -> EventArrays:
    return EventArrays(
        user_index=_frozen(np.zeros(0, dtype=np.int32)),
        item_index=_frozen(np.zeros(0, dtype=np.int32)),
        type=_frozen(np.zeros(0, dtype=np.int8)),
        value=_frozen(np.zeros(0, dtype=np.float32)),
        ts_us=_frozen(np.zeros(0, dtype=np.int64)),
        session_index=_frozen(np.zeros(0, dtype=np.int32)),
        surface=_frozen(np.zeros(0, dtype=np.int8)),
        seed=seed,
    )


def _frozen(array: npt.NDArray[Any]) -> npt.NDArray[Any]:
    array.setflags(write=False)
    return array


def _build_events(
    rng: np.random.Generator,
    *,
    catalogue: _Catalogue,
    population: _Population,
    n_events: int,
    now_us: int,
    days_us: int,
    seed: int,
) -> EventArrays:
    if n_events == 0:
        return _empty_events(seed)
    n = n_events
    profiles = _SEGMENT_PROFILES
    counts = _allocate_events(rng, population, n)

    # A user-major stream of events, cut into interactions (funnels of depth 1-4: view, click,
    # add, purchase on one item) and those into sessions (geometric lengths per segment). A
    # session only ends where an interaction does, except at a user's last event.
    user = np.repeat(np.arange(counts.size), counts)
    user_first = np.cumsum(counts) - counts
    position = np.arange(n) - user_first[user]
    depth = rng.choice(4, size=n, p=_FUNNEL_DEPTH_P) + 1
    run_ends = np.cumsum(depth)
    run_start = position == 0
    run_start[run_ends[run_ends < n]] = True
    mean_depth = float(np.dot(np.arange(1, 5), _FUNNEL_DEPTH_P))
    mean_length = np.array([p.session_length for p in profiles])[population.segment[user]]
    session_start = (position == 0) | (
        run_start & (rng.random(n) < np.minimum(1.0, mean_depth / mean_length))
    )
    session = np.cumsum(session_start) - 1
    session_first = np.flatnonzero(session_start)
    n_sessions = session_first.size
    session_last = np.append(session_first[1:], n) - 1
    session_user = user[session_first]
    session_segment = population.segment[session_user]
    run = np.cumsum(run_start) - 1
    run_first = np.flatnonzero(run_start)
    kind = (np.arange(n) - run_first[run]).astype(np.int8)

    # Offsets inside a session: quick funnel steps, slower moves to another item.
    gap = np.where(
        run_start,
        5 * _SECOND_US + rng.exponential(50.0 * _SECOND_US, n),
        3 * _SECOND_US + rng.exponential(20.0 * _SECOND_US, n),
    ).astype(np.int64)
    gap[session_first] = 0
    elapsed = np.cumsum(gap)
    offset = elapsed - elapsed[session_first][session]
    duration = offset[session_last]

    # Each user's sessions go, in order and without overlap, inside their window
    # [now - min(signup age, days), now): free time is spread by sorted draws from the segment's
    # time density (weekends, recency), and each session is pushed back by the sessions before it.
    window = np.minimum(population.signup_age_us, days_us - 2)[session_user]
    footprint = duration + _SESSION_GAP_US
    total = np.bincount(session_user, weights=footprint, minlength=counts.size)[session_user]
    scale = np.minimum(1.0, (window - 1) / total)  # only squeezes absurdly short windows
    offset = np.floor(offset * scale[session]).astype(np.int64)
    duration = offset[session_last]
    footprint = np.floor(footprint * scale).astype(np.int64)
    before = np.cumsum(footprint) - footprint
    user_first_session = np.searchsorted(session_user, session_user, side="left")
    pushed = before - before[user_first_session]
    free = (
        window
        - 1
        - np.bincount(session_user, weights=footprint, minlength=counts.size)[session_user].astype(
            np.int64
        )
    )

    grid_origin = ((now_us - days_us) // _HOUR_US) * _HOUR_US
    now_rel = now_us - grid_origin
    n_hours = -(-now_rel // _HOUR_US) + 1
    edges = np.arange(n_hours + 1, dtype=np.float64) * _HOUR_US
    cdfs = _segment_cdfs(n_hours, grid_origin, now_rel, days_us)
    earliest = now_rel - window
    latest = earliest + free
    draw = rng.random(n_sessions)
    spot = np.zeros(n_sessions)
    for s in range(len(SEGMENTS)):
        mask = session_segment == s
        if not mask.any():
            continue
        c_lo = np.interp(earliest[mask], edges, cdfs[s])
        c_hi = np.interp(latest[mask], edges, cdfs[s])
        spot[mask] = c_lo + draw[mask] * (c_hi - c_lo)
    spot = spot[np.lexsort((spot, session_user))]  # sorted within each user's block
    placed = np.zeros(n_sessions)
    for s in range(len(SEGMENTS)):
        mask = session_segment == s
        if mask.any():
            placed[mask] = np.interp(spot[mask], cdfs[s], edges)
    start_rel = np.clip(np.floor(placed).astype(np.int64), earliest, latest) + pushed
    start_us = grid_origin + start_rel
    ts_us = start_us[session] + offset

    # Items. A session picks a category (taste, or exploration weighted by catalogue size), an
    # anchor among the clusters already released at its start, then each later interaction stays
    # in the anchor's cluster or picks anew in the category.
    n_cat = len(_CATEGORIES)
    taste_cumulative = np.cumsum(population.taste, axis=1)[session_user]
    pick = rng.random(n_sessions)
    by_taste = (taste_cumulative <= pick[:, None]).sum(axis=1)
    last_liked = n_cat - 1 - np.argmax(population.taste[:, ::-1] > 0, axis=1)
    by_taste = np.minimum(by_taste, last_liked[session_user])
    size_cumulative = np.cumsum(catalogue.category_size) / catalogue.category_size.sum()
    last_stocked = int(np.flatnonzero(catalogue.category_size)[-1])
    explored = np.minimum(
        np.searchsorted(size_cumulative, rng.random(n_sessions), side="right"), last_stocked
    )
    has_taste = population.taste.sum(axis=1)[session_user] > 0
    category = np.where(has_taste & (rng.random(n_sessions) >= _P_EXPLORE), by_taste, explored)
    category_lo = catalogue.category_lo[category]
    category_hi = np.searchsorted(
        catalogue.released_key,
        category * catalogue.key_span + (start_us - catalogue.key_base),
        side="right",
    )
    if np.any(category_hi <= category_lo):  # the oldest cluster of a category predates the window
        raise AssertionError("a session found no released item in its category")
    cumulative = _item_weights(catalogue)
    anchor = _sample_ranges(
        cumulative, session_segment, category_lo, category_hi, rng.random(n_sessions)
    )
    anchor_cluster = catalogue.cluster[anchor]

    run_session = session[run_first]
    opens_session = run_first == session_first[run_session]
    stays = rng.random(run_first.size) < _P_STAY_IN_CLUSTER
    cluster = anchor_cluster[run_session]
    lo = np.where(stays, catalogue.cluster_lo[cluster], category_lo[run_session])
    hi = np.where(stays, catalogue.cluster_hi[cluster], category_hi[run_session])
    drawn = _sample_ranges(
        cumulative, session_segment[run_session], lo, hi, rng.random(run_first.size)
    )
    run_item = np.where(opens_session, anchor[run_session], drawn)
    entry = rng.choice(len(_ENTRY_SURFACE_P), size=n_sessions, p=_ENTRY_SURFACE_P)
    run_surface = np.where(stays & ~opens_session, _PDP, entry[run_session])

    order = np.argsort(ts_us, kind="stable")
    return EventArrays(
        user_index=_frozen(user[order].astype(np.int32)),
        item_index=_frozen(catalogue.public_index[run_item[run]][order].astype(np.int32)),
        type=_frozen(kind[order]),
        value=_frozen(np.ones(n, dtype=np.float32)),
        ts_us=_frozen(ts_us[order].astype(np.int64)),
        session_index=_frozen(session[order].astype(np.int32)),
        surface=_frozen(run_surface[run][order].astype(np.int8)),
        seed=seed,
    )
