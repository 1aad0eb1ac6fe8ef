"""The served OpenAPI schemas, the platform API's and the shop bridge's, fuzzed operation by
operation with schemathesis: no request, however malformed, gets a 5xx, and every answer is one
the schema documents (status code, content type, headers and body).

schemathesis calls the WSGI application in-process, so each operation's examples run inside the
test's database transaction and share the world seeded for it: what one example creates, the next
may list, show or void. That is the point, not a leak: the examples reach deep paths, and none may
answer 5xx whatever came before.
"""

import base64
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from django.contrib.auth.models import User
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import RequestFactory
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from oauth2_provider.views import TokenView
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from tessera.api.services import api_token_issue
from tessera.catalog.models import Course, CourseSession
from tessera.platforms.learners import platform_learner
from tessera.platforms.models import PlatformCourse
from tessera.platforms.services import platform_create
from tessera.shop.services import shop_create, shop_vouchers_create, token_issue
from tessera.vouchers.models import Assignment, Batch, Offer, Product, SendJob
from tessera.vouchers.selectors.codes import display_code
from tessera.vouchers.services import offer_create, voucher_redeem
from tessera.wsgi import application
from tests.platform_sessions import session_mapped

EXAMPLES = 30  # per operation, besides the coverage phase's boundary cases; keeps the file under a minute
UNAUTHENTICATED_EXAMPLES = 5


PLATFORM_API = "/api/v1/openapi.json"
SHOP_BRIDGE = "/bridges/shop/openapi.json"


def served_schema(
    url: str, generation: dict[str, object], phases: dict[str, object] | None = None
) -> schemathesis.BaseSchema:
    # Deterministic, so CI sees the same examples on every run, and no example database in the tree.
    generation = {**generation, "deterministic": True, "database": "none"}
    config = schemathesis.Config.from_dict({"generation": generation, "phases": phases or {}})
    return schemathesis.openapi.from_wsgi(url, application, config=config)


def fuzzed(url: str) -> schemathesis.BaseSchema:
    return served_schema(url, {"max-examples": EXAMPLES})


def fuzzed_without_credentials(url: str) -> schemathesis.BaseSchema:
    """A few random examples per operation; the coverage phase of `fuzzed` already sends each
    request without its credentials once."""
    phases = {"coverage": {"enabled": False}, "examples": {"enabled": False}}
    return served_schema(url, {"max-examples": UNAUTHENTICATED_EXAMPLES}, phases)


platform_api, shop_bridge = fuzzed(PLATFORM_API), fuzzed(SHOP_BRIDGE)
platform_api_unauthenticated = fuzzed_without_credentials(PLATFORM_API)
shop_bridge_unauthenticated = fuzzed_without_credentials(SHOP_BRIDGE)

# Schema validity is not what the API decides on, by design, so these two checks do not apply:
# - positive_data_acceptance: a well-formed request may still be refused with 422 for what only the
#   database and the clock know (an unknown course session slug, an expiry already past).
# - negative_data_rejection: the shop bridge reads its input as Xikolo does, leniently ("5 apples"
#   is 5, "de" is DE, unknown fields are ignored), so shops written for Xikolo work unchanged.
NOT_APPLICABLE = [positive_data_acceptance, negative_data_rejection]

# The examples of one operation share one database world (see above): set up once per operation,
# not per example, on purpose.
SHARED_WORLD = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])

# Names of path parameters and body fields, and values that name something real: a code, id or slug
# of the current world, a country. Random values almost never do, so examples use these now and then
# and get past the lookups to the deep paths. Filled by `world` before any example is drawn.
KNOWN: dict[str, list[object]] = {}
# Text that is well formed as far as a schema can say, yet once got past the checks into the database
# or Python's limits: NUL (no PostgreSQL text column takes it), a date-time past year 9999 in UTC (or
# with an offset PostgreSQL refuses), thousands of digits (Python reads at most 4300).
HOSTILE = ["a\x00b", "9999-12-31T23:59:59-23:59", "9" * 5000]
# Only a JSON body can carry a lone surrogate (as the escape \ud800); a URL or a form cannot encode one.
JSON_ONLY_HOSTILE = ["a\ud800b"]


def _now_and_then(values: object, hostile: list[str] = HOSTILE) -> st.SearchStrategy[object]:
    """The generated values; or the same with every field that can name something real naming it;
    or with any of the texts swapped for hostile ones."""
    if not isinstance(values, dict):
        return st.just(values)
    choices: list[st.SearchStrategy[object]] = [st.just(values)]
    if known := {name: st.sampled_from(KNOWN[name]) for name in values if KNOWN.get(name)}:
        choices.append(st.fixed_dictionaries(known).map(lambda real: {**values, **real}))
    if texts := {name: st.sampled_from([text, *hostile]) for name, text in values.items() if isinstance(text, str)}:
        choices.append(st.fixed_dictionaries(texts).map(lambda swapped: {**values, **swapped}))
    return st.one_of(choices)


def _json_only(operation: Any) -> bool:
    return {body.media_type for body in operation.body} == {"application/json"}


def flatmap_path_parameters(context: schemathesis.HookContext, path_parameters: dict[str, Any]) -> Any:
    return _now_and_then(path_parameters)


def flatmap_query(context: schemathesis.HookContext, query: dict[str, Any]) -> Any:
    return _now_and_then(query)


def flatmap_body(context: schemathesis.HookContext, body: object) -> Any:
    json_only = context.operation is not None and _json_only(context.operation)
    return _now_and_then(body, [*HOSTILE, *JSON_ONLY_HOSTILE] if json_only else HOSTILE)


for schema in (platform_api, shop_bridge, platform_api_unauthenticated, shop_bridge_unauthenticated):
    for hook in (flatmap_path_parameters, flatmap_query, flatmap_body):
        schema.hook(hook)


@dataclass
class World:
    shop_token: str
    staff_token: str
    platform_token: str

    def auth_for(self, path: str) -> dict[str, str]:
        if path.startswith("/bridges/shop"):
            token = self.shop_token
        elif path.startswith("/api/v1/platform"):
            token = self.platform_token
        else:
            token = self.staff_token
        return {"Authorization": f"Bearer {token}"}


def platform_world(make_batch: Callable[..., Batch], running_session: CourseSession) -> tuple[str, Batch, list[str]]:
    """A course platform with a session of its own, codes for it and a learner who redeemed one:
    its access token (every scope), the codes' batch and the codes."""
    credentials = platform_create(name="Fuzz platform", slug="fuzz")
    course = PlatformCourse.objects.create(
        platform=credentials.platform, external_id="c-1",
        course=Course.objects.create(slug="fuzz-c-1", title="Fuzz course"),
    )  # fmt: skip
    session = CourseSession.objects.create(
        course=course.course, slug="fuzz-s-1", state=CourseSession.State.ACTIVE, starts_at=running_session.starts_at,
        ends_at=running_session.ends_at,
    )  # fmt: skip
    session_mapped(credentials.platform, course, "s-1", session)
    batch = make_batch(offer_create(name="Fuzz platform offer", product=Product.ENROLLMENT, session=session), count=3)
    codes = [display_code(code, batch.prefix) for code in batch.codes.values_list("code", flat=True)]
    learner = platform_learner(platform=credentials.platform, external_id="1234")
    voucher_redeem(code=codes[0], user=learner, session=session)
    pair = base64.b64encode(f"{credentials.client_id}:{credentials.client_secret}".encode()).decode()
    # The token view itself, not the test client: a request through a handler would connect the
    # connection-closing signals again that connection_kept_open took off.
    token_request = RequestFactory().post(
        "/oauth/token", {"grant_type": "client_credentials"}, HTTP_AUTHORIZATION=f"Basic {pair}"
    )
    response = TokenView.as_view()(token_request)
    return json.loads(response.content)["access_token"], batch, codes


def _mailed(batch: Batch) -> Assignment:
    """A code of the batch sent to a recipient, by a mail job that is done."""
    job = SendJob.objects.create(batch=batch, total=1, sent=1, status="done", link_base="https://tessera.example")
    code = batch.codes.order_by("code").last()
    assignment = Assignment.objects.create(
        code=code, batch=batch, email="ada@example.org", assigned_at=timezone.now(), state="sent",
        sent_at=timezone.now(), job=None,
    )  # fmt: skip
    assignment.job_id = job.pk  # remembered for KNOWN, not stored: the mail went out
    return assignment


@pytest.fixture
def world(
    staff: User,
    learner: User,
    other_learner: User,
    running_session: CourseSession,
    enrollment_offer: Offer,
    make_batch: Callable[..., Batch],
) -> Iterator[World]:
    """A running course session with an offer and codes, a shop with vouchers, and a course platform
    with a session and codes of its own; one of each redeemed."""
    shop = shop_create(name="Fuzz shop")
    _, shop_token = token_issue(shop=shop)
    shop_batch = shop_vouchers_create(shop=shop, qty=3, product=Product.ENROLLMENT, country="DE")
    batch = make_batch(enrollment_offer, count=3, uses_per_code=2)
    codes = [display_code(c, b.prefix) for b in (batch, shop_batch) for c in b.codes.values_list("code", flat=True)]
    redemption = voucher_redeem(code=codes[0], user=learner, session=running_session)
    voucher_redeem(code=codes[-1], user=other_learner, session=running_session)  # a shop's, with a redemption
    _, staff_token = api_token_issue(user=staff)
    platform_token, platform_batch, platform_codes = platform_world(make_batch, running_session)
    mailed = [_mailed(of) for of in (batch, platform_batch)]
    KNOWN.update(
        code=[*codes, *platform_codes], course_session=[running_session.slug], session=[running_session.slug, "s-1"],
        country=["DE", "fr"], offer_id=[enrollment_offer.pk, platform_batch.offer_id],
        batch_id=[batch.pk, shop_batch.pk, platform_batch.pk],
        redemption_id=[redemption.pk], learner=["1234"], client_ip=["203.0.113.9", "2001:db8::1"],
        course_id=["c-1"], session_id=["s-1"], course=["c-1"], external_id=["c-1", "s-1"],
        assignment_id=[assignment.pk for assignment in mailed], job_id=[mailed[0].job_id],
    )  # fmt: skip
    yield World(shop_token=shop_token, staff_token=staff_token, platform_token=platform_token)
    KNOWN.clear()


@pytest.fixture(autouse=True)
def connection_kept_open() -> Iterator[None]:
    """Django closes the database connection after every request, which in a test would end the
    test's transaction; Django's own test client keeps it open the same way."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def _host_left_alone(case: schemathesis.Case) -> schemathesis.Case:
    """The case without a Host header of schemathesis' making. Django checks the Host against
    TESSERA_ALLOWED_HOSTS before any route is reached and answers a stranger 400, whatever the
    path: that is the deployment's rule (docs/operations/configuration.md), not an answer of the
    API's, and no operation's document could list it usefully."""
    for name in [name for name in case.headers or {} if name.lower() == "host"]:
        del case.headers[name]
    return case


@platform_api.parametrize()
@SHARED_WORLD
def test_no_platform_api_request_gets_a_server_error_or_an_undocumented_answer(
    case: schemathesis.Case, world: World
) -> None:
    _host_left_alone(case).call_and_validate(headers=world.auth_for(case.path), excluded_checks=NOT_APPLICABLE)


@shop_bridge.parametrize()
@SHARED_WORLD
def test_no_shop_bridge_request_gets_a_server_error_or_an_undocumented_answer(
    case: schemathesis.Case, world: World
) -> None:
    _host_left_alone(case).call_and_validate(headers=world.auth_for(case.path), excluded_checks=NOT_APPLICABLE)


# schemathesis makes up the credentials here (none, or random ones), and checks that a request
# without them is refused (ignored_auth).
@platform_api_unauthenticated.parametrize()
@SHARED_WORLD
def test_without_a_valid_token_every_platform_api_answer_is_documented_too(
    case: schemathesis.Case, world: World
) -> None:
    _host_left_alone(case).call_and_validate(excluded_checks=NOT_APPLICABLE)


@shop_bridge_unauthenticated.parametrize()
@SHARED_WORLD
def test_without_a_valid_token_every_shop_bridge_answer_is_documented_too(
    case: schemathesis.Case, world: World
) -> None:
    _host_left_alone(case).call_and_validate(excluded_checks=NOT_APPLICABLE)


# Bodies no generator writes: JSON nested a thousand levels deep (past what Python's parser
# reads), and every field of the operation's body set to a lone surrogate, escaped as JSON sends
# it. Every operation that takes a body gets each, and answers 4xx in its surface's own shape.
NESTED = {"nested object": '{"tag":' * 1000 + "1" + "}" * 1000, "nested array": "[" * 1000 + "]" * 1000}
SERVED = [schemathesis.openapi.from_wsgi(url, application).raw_schema for url in (PLATFORM_API, SHOP_BRIDGE)]


def _fields(schema: dict[str, Any], document: dict[str, Any]) -> set[str]:
    """The names of a body schema's fields, through references and anyOf (an optional body)."""
    if "$ref" in schema:
        return _fields(document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]], document)
    options = (_fields(option, document) for option in schema.get("anyOf", []))
    return set(schema.get("properties", {})).union(*options)


def _hostile_bodies() -> Iterator[Any]:
    """Per operation that takes a body: its method, path and hostile bodies, by name."""
    for document in SERVED:
        yield from _hostile_bodies_of(document)


def _hostile_bodies_of(document: dict[str, Any]) -> Iterator[Any]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if not (isinstance(operation, dict) and "requestBody" in operation):
                continue
            fields = sorted(_fields(operation["requestBody"]["content"]["application/json"]["schema"], document))
            assert fields, f"{method} {path}: no fields to put surrogates in"
            surrogates = "{" + ", ".join(f'"{field}": "a\\ud800"' for field in fields) + "}"
            bodies = {**NESTED, "lone surrogates": surrogates}
            yield pytest.param(method.upper(), path, bodies, id=f"{method.upper()} {path}")


@pytest.mark.parametrize(("method", "path", "bodies"), list(_hostile_bodies()))
def test_hostile_bodies_are_refused_in_the_surfaces_shape(world: World, client: Any, method: str, path: str,
                                                          bodies: dict[str, str]) -> None:  # fmt: skip
    url = path.format(**{name: values[0] for name, values in KNOWN.items()})
    for name, raw in bodies.items():
        response = client.generic(method, url, raw, content_type="application/json",
                                  HTTP_AUTHORIZATION=world.auth_for(path)["Authorization"])  # fmt: skip
        assert 400 <= response.status_code < 500, (name, response.content)
        if path.startswith("/bridges/shop"):
            assert "errors" in response.json(), name
        else:
            assert response.json()["error"] == "invalid_input", name
