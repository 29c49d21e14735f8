"""Flask-Limiter's request hooks, left out of requests that no limit can apply to.

``limiter.request_filter`` exempts a request from every limit, but Flask-Limiter's three request
hooks still run on it: before the view they resolve the endpoint's limits and set up a context,
after it they look for deductions, and on teardown they reset the context. On a survey page
view, the platform's busiest request, that was ≈ 0.2 ms of its ≈ 1.9 ms of CPU in process
(``bench.load.profile_requests``) and ≈ 0.4 ms of ≈ 2.0 ms in a gunicorn worker, for nothing.
The survey, whose limits are its own (``app.survey_limits``), skips them on every request.
"""

from __future__ import annotations

from functools import partial, wraps
from typing import Callable

from flask import Flask
from flask_limiter import Limiter


def _belongs_to(limiter: Limiter, hook) -> bool:
    """A hook ``limiter.init_app`` registered: one of its bound methods, or a partial bound to it."""
    if getattr(hook, "__self__", None) is limiter:
        return True
    return isinstance(hook, partial) and bool(hook.args) and hook.args[0] is limiter


def _unless(skip: Callable[[], bool], hook, passes_response: bool):
    @wraps(hook)
    def run(*args):
        if skip():
            return args[0] if passes_response else None
        return hook(*args)

    return run


def skip_limiter_hooks(app: Flask, limiter: Limiter, skip: Callable[[], bool]) -> None:
    """Make the request hooks ``limiter`` registered on ``app`` (three with Flask-Limiter 4) do
    nothing while ``skip()`` is true.

    ``skip`` must also be one of ``limiter``'s request filters, so that a skipped request is one
    the limiter would have let through without counting anything."""
    for hooks, passes_response in (
        (app.before_request_funcs.get(None, []), False),
        (app.after_request_funcs.get(None, []), True),
        (app.teardown_request_funcs.get(None, []), False),
    ):
        for index, hook in enumerate(hooks):
            if _belongs_to(limiter, hook):
                hooks[index] = _unless(skip, hook, passes_response)
