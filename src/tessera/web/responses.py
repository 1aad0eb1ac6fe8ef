"""Answers every page module shares, learner and staff alike."""

import math
from functools import partial

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render

from tessera.core.ratelimit.limiter import RateLimited
from tessera.web.errors import page_refusal


def see_other(url: str) -> HttpResponseRedirect:
    """A redirect after a POST that the browser follows with a GET."""
    response = HttpResponseRedirect(url)
    response.status_code = 303
    return response


def locked_out(request: HttpRequest, limited: RateLimited) -> HttpResponse:
    """429 for a log-in refused by the failed log-in limits, in plain words, with Retry-After."""
    context = {"wait": in_words(limited.retry_after)}
    return page_refusal(limited, partial(render, request, "registration/locked_out.html", context))


def in_words(seconds: int) -> str:
    """How long, in words ("45 seconds", "2 minutes", "7 hours"), rounded up: never too soon."""
    if seconds < 60:
        number, unit = seconds, "second"
    elif seconds < 2 * 3600:
        number, unit = math.ceil(seconds / 60), "minute"
    else:
        number, unit = math.ceil(seconds / 3600), "hour"
    return f"{number} {unit}" if number == 1 else f"{number} {unit}s"
