"""Answers every page module shares, learner and staff alike."""

from django.http import HttpResponseRedirect


def see_other(url: str) -> HttpResponseRedirect:
    """A redirect after a POST that the browser follows with a GET."""
    response = HttpResponseRedirect(url)
    response.status_code = 303
    return response
