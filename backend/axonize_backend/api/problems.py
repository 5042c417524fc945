"""Errors as RFC 9457 problem details (``application/problem+json``), by Litestar's
problem-details plugin.

Handlers raise the typed problems below; the backend's own errors
(:mod:`axonize_backend.errors`), Litestar's HTTP errors (validation, unknown route, body too
large) and anything unexpected are converted by :data:`PROBLEM_DETAILS`.  Every document has
``type``, ``title``, ``status``, ``detail`` and ``instance`` (the path), and ``errors`` for a
request that failed validation.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException
from litestar.plugins.problem_details import (
    ProblemDetailsConfig,
    ProblemDetailsException,
    ProblemDetailsPlugin,
)

from axonize_backend import errors

logger = logging.getLogger("axonize.server")

#: Titles where Python's (3.10) reason phrase is outdated (RFC 9110 names).
_TITLES = {413: "Content Too Large"}


def title(status: int) -> str:
    """The problem title of a status code: its reason phrase."""
    if status in _TITLES:
        return _TITLES[status]
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


class Problem(ProblemDetailsException):
    """A problem document of the class's ``status_code``; ``detail`` says what went wrong."""

    status_code = 500

    def __init__(
        self,
        detail: str,
        *,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
        status_code: int | None = None,
    ) -> None:
        status = status_code or self.status_code
        super().__init__(
            detail=detail,
            status_code=status,
            headers=headers,
            extra=extra,
            type_="about:blank",
            title=title(status),
        )

    def to_response(self, request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
        if self.instance is None:
            self.instance = request.url.path
        return super().to_response(request)


class BadRequestProblem(Problem):
    status_code = 400


class UnauthorizedProblem(Problem):
    status_code = 401


class ForbiddenProblem(Problem):
    status_code = 403


class NotFoundProblem(Problem):
    status_code = 404


class ConflictProblem(Problem):
    status_code = 409


class ContentTooLargeProblem(Problem):
    status_code = 413


class UnsupportedMediaTypeProblem(Problem):
    status_code = 415


class UnavailableProblem(Problem):
    status_code = 503


class InternalProblem(Problem):
    """An unexpected error: logged in full, answered without its details."""

    status_code = 500

    def to_response(self, request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
        logger.error("%s %s failed", request.method, request.url.path, exc_info=self.__cause__)
        return super().to_response(request)


def _from_http(exc: HTTPException) -> Problem:
    """Litestar's own errors (validation, unknown route, method, body size)."""
    extra = {"errors": exc.extra} if exc.extra else None
    return Problem(
        exc.detail, status_code=exc.status_code, headers=dict(exc.headers or {}), extra=extra
    )


def _unexpected(exc: Exception) -> Problem:
    problem = InternalProblem("internal error")
    problem.__cause__ = exc
    return problem


#: Exception type -> its problem; the most specific class of an exception decides.
_CONVERSIONS: dict[type[Exception], Callable[[Any], ProblemDetailsException]] = {
    HTTPException: _from_http,
    errors.BadRequest: lambda exc: BadRequestProblem(str(exc)),
    errors.Unauthorized: lambda exc: UnauthorizedProblem(str(exc)),
    errors.TenantExists: lambda exc: ConflictProblem(str(exc)),
    errors.Overloaded: lambda exc: UnavailableProblem(str(exc), headers={"retry-after": "1"}),
    Exception: _unexpected,
}

PROBLEM_DETAILS = ProblemDetailsPlugin(
    ProblemDetailsConfig(exception_to_problem_detail_map=_CONVERSIONS)
)
