"""bench_sql's data and its pairs: each hand-written statement of src/tessera beside the ORM code
that gives the same answer. Imported after django.setup()."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from functools import reduce
from operator import or_
from typing import Any

from django.contrib.auth.models import User
from django.db import connection
from django.db.models import Count, Exists, F, IntegerField, Model, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

import benchlib
from tessera.api.models import ApiToken
from tessera.api.selectors import user_for_token
from tessera.api.services import api_token_issue
from tessera.catalog.models import CourseSession, Enrollment
from tessera.catalog.selectors import enrollment_for, session_by_slug
from tessera.core.db import insert
from tessera.core.models import FailureCounter
from tessera.core.ratelimit.stores import DatabaseStore, Window
from tessera.core.tokens import token_digest
from tessera.platforms import events
from tessera.platforms.models import PlatformCourse, PlatformLearner, PlatformSession
from tessera.platforms.services import platform_create
from tessera.shop import receivers
from tessera.shop import selectors as shop_selectors
from tessera.shop.models import Shop, ShopBatch, ShopToken
from tessera.shop.selectors import shop_for_token
from tessera.shop.services import shop_create, shop_vouchers_create, token_issue
from tessera.vouchers import codes as codebook
from tessera.vouchers.bulk_insert import codes_writer
from tessera.vouchers.models import AuditEvent, Batch, Code, Redemption
from tessera.vouchers.selectors.codes import code_key
from tessera.vouchers.services import BatchSpec, batch_create, redeem, voucher_redeem

LIST_BATCH = 500  # the bridge's most codes per create
TAGS = ("spring", "summer", "autumn", "winter")
USED_SHARE = 0.01
READ_KEYS = 50  # distinct rows each read cycles through
BULK_CODES = 50_000


@dataclass
class Pair:
    """A hand-written path and its ORM twin. Each takes the call's number (to vary its input)."""

    name: str
    raw: Callable[[int], Any]
    orm: Callable[[int], Any]
    writes: bool = False
    calls: int | None = None  # None: --calls
    rounds: int | None = None  # None: --rounds


@dataclass
class Data:
    session: CourseSession
    codes: list[str]  # single-use, unused, of one batch
    held_codes: list[str]  # redeemed by users[25:50], one each
    users: list[User]
    api_tokens: list[str]
    shop_tokens: list[str]
    listed_shop: Shop
    listed_codes: int
    listed_batches: int
    windows: list[list[Window]]
    bulk_batch: Batch
    shop_sample: list[str]  # some of the listed shop's codes
    platform_session: CourseSession  # a course platform's; users[:READ_KEYS:2] are its learners

    def summary(self) -> str:
        return (f"{len(self.codes):,} codes, {len(self.users):,} users, a shop of {self.listed_codes:,} vouchers in "
                f"{self.listed_batches:,} batches, {USED_SHARE:.0%} used")  # fmt: skip


def seed(*, calls: int, shop_codes: int) -> Data:
    session = benchlib.running_session("bench-sql")
    offer = benchlib.enrollment_offer(session)
    batch = batch_create(offer=offer, spec=BatchSpec(count=max(10_000, 4 * calls), country="DE"))
    codes = sorted(batch.codes.values_list("code", flat=True))
    users = User.objects.bulk_create(User(username=f"bench-sql-{n}") for n in range(READ_KEYS + calls))
    for user in users[: READ_KEYS // 2]:
        Enrollment.objects.create(user=user, session=session)
    held = codes[-READ_KEYS // 2 :]
    for code, user in zip(held, users[READ_KEYS // 2 : READ_KEYS], strict=True):  # enrolls them too
        voucher_redeem(code=code, user=user, session=session)
    api_tokens = [api_token_issue(user=user)[1] for user in users[:READ_KEYS]]
    shop = shop_create(name="Bench listed shop")
    shop_tokens = [token_issue(shop=shop)[1] for _ in range(READ_KEYS)]
    listed = _listed_shop(shop, shop_codes)
    counter_keys = [[Window(f"ip:203.0.113.{n}/{period}", 0, period) for period in (60, 86400)] for n in range(8)]
    windows = [[*keys, Window(f"user:{n}/60", 0, 60), Window(f"user:{n}/86400", 0, 86400)]
               for n, keys in enumerate(counter_keys)]  # fmt: skip
    for found in windows[::2]:
        DatabaseStore().add(found, now=0)
    platform_session = _platform_session(users[:READ_KEYS:2])
    _analyze()
    return Data(session=session, codes=codes[: -READ_KEYS // 2], held_codes=held, users=users,
                api_tokens=api_tokens, shop_tokens=shop_tokens, listed_shop=shop, listed_codes=listed,
                listed_batches=ShopBatch.objects.filter(shop=shop).count(), windows=windows,
                bulk_batch=batch, shop_sample=_sample(shop), platform_session=platform_session)  # fmt: skip


def _platform_session(learners: list[User]) -> CourseSession:
    """A session of a course platform's catalog, mapped as its catalog API maps one."""
    platform = platform_create(name="Bench platform").platform
    session = benchlib.running_session("bench-sql-platform")
    CourseSession.objects.filter(pk=session.pk).update(source=CourseSession.Source.PLATFORM)
    course = PlatformCourse.objects.create(platform=platform, external_id="c-1", course=session.course)
    PlatformSession.objects.create(platform=platform, external_id="s-1", course=course, session=session)
    PlatformLearner.objects.bulk_create(
        PlatformLearner(platform=platform, external_id=f"u-{user.pk}", user=user) for user in learners
    )
    return session


def _listed_shop(shop: Shop, vouchers: int) -> int:
    """The shop's vouchers as bench_http makes them, and 1% of them used (uses = 1, no
    redemption: the statements timed here read `uses` only)."""
    Shop.objects.filter(pk=shop.pk).update(webhook_url="https://shop.example/hooks")
    for n in range(0, vouchers, LIST_BATCH):
        qty = min(LIST_BATCH, vouchers - n)
        shop_vouchers_create(shop=shop, qty=qty, product="enrollment", country="DE", tag=TAGS[n // LIST_BATCH % 4])
    listed = list(Code.objects.filter(batch__shop_batch__shop=shop).values_list("code", flat=True))
    used = random.Random(3).sample(listed, round(len(listed) * USED_SHARE))
    for start in range(0, len(used), 500):
        Code.objects.filter(pk__in=used[start : start + 500]).update(uses=1)
    return len(listed)


def _sample(shop: Shop) -> list[str]:
    return list(Code.objects.filter(batch__shop_batch__shop=shop).values_list("code", flat=True)[:READ_KEYS])


def _analyze() -> None:
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")


def values(instance: Model | None) -> tuple[Any, ...] | None:
    """Every column's value, as loaded: what two paths must agree on."""
    if instance is None:
        return None
    return tuple(getattr(instance, field.attname) for field in instance._meta.concrete_fields)


def pairs(data: Data, rng: random.Random) -> list[Pair]:
    return [
        *_redemption_pairs(data),
        *_token_pairs(data),
        *_write_pairs(data),
        *_rate_limit_pairs(data),
        *_shop_list_pairs(data, rng),
        _bulk_pair(data),
    ]


# --- redemption and what leads to it -------------------------------------------------------------


def _found(found: redeem.Found) -> tuple[Any, ...]:
    code = found.code
    return (values(code), values(code.batch), values(code.batch.offer), found.held, values(found.holding))


def _redemption_pairs(data: Data) -> list[Pair]:
    now = timezone.now()

    def attempt(n: int) -> tuple[str, redeem.Attempt]:
        held = n % len(data.held_codes)
        code = data.held_codes[held] if n % 2 else data.codes[n % READ_KEYS]
        user = data.users[READ_KEYS // 2 + held] if n % 2 else data.users[n % READ_KEYS]
        return code, redeem.Attempt(user=user, session=data.session, product=None, client_ip=None, now=now)

    def raw_code(n: int) -> tuple[Any, ...]:
        code, tried = attempt(n)
        return _found(redeem._code_for_redemption(code_key(code), tried))

    def orm_code(n: int) -> tuple[Any, ...]:
        code, tried = attempt(n)
        held = Redemption.objects.filter(code=OuterRef("pk"), user_id=tried.user.pk, reversed_at__isnull=True)
        row = Code.objects.select_related("batch__offer").annotate(held=Exists(held)).get(pk=code)
        enrollment = Enrollment.objects.filter(user_id=tried.user.pk, session_id=data.session.pk).first()
        return _found(redeem.Found(code=row, held=row.held, holding=enrollment))

    slugs = [data.session.slug]

    def orm_session(n: int) -> tuple[Any, ...]:
        session = CourseSession.objects.select_related("course").get(slug=slugs[0])
        return (values(session), values(session.course))

    def raw_session(n: int) -> tuple[Any, ...]:
        session = session_by_slug(slugs[0])
        return (values(session), values(session.course))

    def user(n: int) -> User:
        return data.users[n % READ_KEYS]

    return [
        Pair("redemption's read: code, batch, offer, held, enrollment", raw_code, orm_code),
        Pair("course session by slug, with its course", raw_session, orm_session),
        Pair("a learner's enrollment in a session",
             lambda n: values(enrollment_for(user=user(n), session=data.session)),
             lambda n: values(Enrollment.objects.filter(user_id=user(n).pk, session_id=data.session.pk).first())),
        Pair("platform outbox: a session's platform and the learner's id there",
             lambda n: events._owner(session_id=data.platform_session.pk, user_id=user(n).pk),
             lambda n: _orm_owner(data.platform_session.pk, user(n).pk)),
        Pair("webhook receiver: the code's subscribed shop",
             lambda n: values(receivers._subscribed_shop(_receiver_code(data, n))),
             lambda n: values(Shop.objects.filter(batches__batch__codes__code=_receiver_code(data, n))
                              .exclude(webhook_url="").first())),
    ]  # fmt: skip


def _orm_owner(session_id: int, user_id: int) -> events.Owner | None:
    mapping = PlatformSession.objects.select_related("course").filter(session_id=session_id).first()
    if mapping is None:
        return None
    learner = PlatformLearner.objects.filter(platform_id=mapping.platform_id, user_id=user_id).first()
    return events.Owner(
        platform_id=mapping.platform_id,
        session_pk=mapping.pk,
        session=mapping.external_id,
        course=mapping.course.external_id,
        learner=learner.external_id if learner else None,
    )


def _receiver_code(data: Data, n: int) -> str:
    """Every other code is one of the listed shop's (which wants webhooks), the rest no shop's."""
    if n % 2:
        return data.codes[n % READ_KEYS]
    return data.shop_sample[n % READ_KEYS]


# --- tokens ---------------------------------------------------------------------------------------


def _token_pairs(data: Data) -> list[Pair]:
    def orm_user(n: int) -> tuple[Any, ...] | None:
        plaintext = data.api_tokens[n % READ_KEYS]
        token = ApiToken.objects.select_related("user").filter(digest=token_digest(plaintext), revoked_at=None).first()
        return values(token.user if token is not None and token.user.is_active else None)

    def orm_shop(n: int) -> tuple[Any, ...] | None:
        plaintext = data.shop_tokens[n % READ_KEYS]
        token = ShopToken.objects.select_related("shop").filter(digest=token_digest(plaintext), revoked_at=None).first()
        return values(token.shop if token is not None else None)

    return [
        Pair("API token's user", lambda n: values(user_for_token(data.api_tokens[n % READ_KEYS])), orm_user),
        Pair("shop token's shop", lambda n: values(shop_for_token(data.shop_tokens[n % READ_KEYS])), orm_shop),
    ]


# --- the redemption's writes ----------------------------------------------------------------------


def _write_pairs(data: Data) -> list[Pair]:
    now = timezone.now()

    def raw_count_use(n: int) -> int:
        with connection.cursor() as cursor:
            cursor.execute(redeem.COUNT_USE, [data.codes[n]])
            return int(cursor.rowcount)

    def orm_count_use(n: int) -> int:
        usable = Code.objects.filter(pk=data.codes[n], uses__lt=F("max_uses"), revoked_at__isnull=True)
        return usable.update(uses=F("uses") + 1)

    def redemption(n: int) -> dict[str, Any]:
        return {"code_id": data.codes[n], "user_id": data.users[1].pk, "session_id": data.session.pk,
                "product": "enrollment", "redeemed_at": now, "client_ip": "203.0.113.9",
                "had_active_enrollment": False}  # fmt: skip

    def raw_redemption(n: int) -> bool:
        return insert(Redemption(**redemption(n))).pk > 0

    def orm_redemption(n: int) -> bool:
        return Redemption.objects.create(**redemption(n)).pk > 0

    event = {"at": now, "actor": "user:1", "action": AuditEvent.Action.REDEEMED, "code": "ABC", "detail": {"a": 1}}

    def raw_audit(n: int) -> bool:
        return insert(AuditEvent(**event, batch_id=data.bulk_batch.pk)).pk > 0

    def orm_audit(n: int) -> bool:
        return AuditEvent.objects.create(**event, batch_id=data.bulk_batch.pk).pk > 0

    def raw_enrollment(n: int) -> bool:
        user = data.users[READ_KEYS + n]  # never enrolled
        return insert(Enrollment(user_id=user.pk, session_id=data.session.pk)).pk > 0

    def orm_enrollment(n: int) -> bool:
        user = data.users[READ_KEYS + n]
        return Enrollment.objects.create(user_id=user.pk, session_id=data.session.pk).pk > 0

    return [
        Pair("count a use: the conditional UPDATE", raw_count_use, orm_count_use, writes=True),
        Pair("insert a redemption", raw_redemption, orm_redemption, writes=True),
        Pair("insert an audit event", raw_audit, orm_audit, writes=True),
        Pair("insert an enrollment", raw_enrollment, orm_enrollment, writes=True),
    ]


# --- rate limits ----------------------------------------------------------------------------------


def _rate_limit_pairs(data: Data) -> list[Pair]:
    store = DatabaseStore()

    def orm_counts(n: int) -> list[int]:
        windows = data.windows[n % len(data.windows)]
        matching = reduce(or_, (Q(key=w.counter, window_start=w.start) for w in windows))
        rows = FailureCounter.objects.filter(matching).values_list("key", "window_start", "count")
        found = {(key, start): count for key, start, count in rows}
        return [found.get((w.counter, w.start), 0) for w in windows]

    return [Pair("rate limits: read a key's counters", lambda n: store.counts(data.windows[n % 8]), orm_counts)]


# --- the shop's voucher list ------------------------------------------------------------------------

FILTERS: dict[str, dict[str, Any]] = {
    "all": {"tag": None, "claimed": None},
    "claimed": {"tag": None, "claimed": True},
    "unclaimed": {"tag": None, "claimed": False},
    "tag": {"tag": "spring", "claimed": None},
}
PER_PAGE = 50


def _shop_list_pairs(data: Data, rng: random.Random) -> list[Pair]:
    """A list page with its count: shop_codes_page's one statement against the ORM's three (the
    per-batch counts, the page's first code in its batch, the page from that code on), the way
    the list was read before issue 16."""
    made = []
    for name, filters in FILTERS.items():
        per_batch = _orm_batches(data.listed_shop.pk, **filters)(0)
        pages = [rng.randrange(1, sum(listed for _, listed in per_batch) // PER_PAGE + 1) for _ in range(400)]
        raw, orm = _raw_page(data.listed_shop, pages, filters), _orm_page(data.listed_shop, pages, filters)
        made.append(Pair(f"shop list ({name}): a page and its count", raw, orm, calls=100))
    return made


def _raw_page(shop: Shop, pages: list[int], filters: dict[str, Any]) -> Any:
    def read(n: int) -> tuple[list[dict[str, Any]], int]:
        found = shop_selectors.shop_codes_page(
            shop, shop_selectors.VoucherFilters(**filters), page=pages[n % len(pages)], per_page=PER_PAGE
        )
        return found.rows, found.total

    return read


def _orm_page(shop: Shop, pages: list[int], filters: dict[str, Any]) -> Any:
    batches, claimed = _orm_batches(shop.pk, **filters), filters["claimed"]
    uses = {None: {}, True: {"uses__gt": 0}, False: {"uses": 0}}[claimed]

    def read(n: int) -> tuple[list[dict[str, Any]], int]:
        per_batch = batches(n)
        total = sum(listed for _, listed in per_batch)
        batch, offset = _located(per_batch, (pages[n % len(pages)] - 1) * PER_PAGE)
        later = [b for b, _ in per_batch if b > batch][:PER_PAGE]
        first = Code.objects.filter(batch_id=batch, **uses).order_by("code").values_list("code", flat=True)
        code = first[offset : offset + 1].get()
        codes = Code.objects.filter(batch__shop_batch__shop=shop, **uses)
        if filters["tag"]:
            codes = codes.filter(batch__tag=filters["tag"])
        live = Redemption.objects.filter(code=OuterRef("pk"), reversed_at__isnull=True).order_by("redeemed_at", "pk")
        listed = codes.annotate(claimed_at=Subquery(live.values("redeemed_at")[:1]),
                                claimant_ip=Subquery(live.values("client_ip")[:1]))  # fmt: skip
        window = listed.filter(Q(batch_id=batch, code__gte=code) | Q(batch_id__in=later)).order_by("batch_id", "code")
        return list(window[:PER_PAGE].values(*shop_selectors.LISTED_FIELDS)), total

    return read


def _located(per_batch: list[tuple[int, int]], start: int) -> tuple[int, int]:
    """A page's start as (batch, n-th listed code of that batch)."""
    seen = 0
    for batch, listed in per_batch:
        if seen + listed > start:
            return batch, start - seen
        seen += listed
    raise ValueError(f"{start} is past the list's end")


def _orm_batches(shop_id: int, *, tag: str | None, claimed: bool | None) -> Any:
    def read(n: int) -> list[tuple[int, int]]:
        batches = ShopBatch.objects.filter(shop_id=shop_id)
        if tag:
            batches = batches.filter(batch__tag=tag)
        if claimed is None:
            listed = batches.annotate(listed=F("batch__count"))
        else:
            used = (Code.objects.filter(batch_id=OuterRef("batch_id"), uses__gt=0).order_by().values("batch_id")
                    .annotate(used=Count("*")).values("used"))  # fmt: skip
            counted = batches.annotate(used=Coalesce(Subquery(used, output_field=IntegerField()), Value(0)))
            listed = counted.annotate(listed=F("used") if claimed else F("batch__count") - F("used"))
        return list(listed.filter(listed__gt=0).order_by("batch_id").values_list("batch_id", "listed"))

    return read


# --- writing a batch's codes ------------------------------------------------------------------------


def _bulk_pair(data: Data) -> Pair:
    fresh = sorted(codebook.generate(BULK_CODES))
    batch_id = data.bulk_batch.pk

    def raw(n: int) -> int:
        with codes_writer(batch_id=batch_id, max_uses=1) as write:
            for start in range(0, BULK_CODES, 50_000):
                write(fresh[start : start + 50_000])
        return Code.objects.filter(batch_id=batch_id).count()

    def orm(n: int) -> int:
        Code.objects.bulk_create((Code(code=code, batch_id=batch_id, max_uses=1) for code in fresh), batch_size=5000)
        return Code.objects.filter(batch_id=batch_id).count()

    return Pair(f"write {BULK_CODES:,} codes (COPY / INSERT ... SELECT vs bulk_create)", raw, orm, writes=True,
                calls=1, rounds=5)  # fmt: skip
