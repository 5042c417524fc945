"""Errors as problem documents, through Litestar's plugin on a real (in-process) app."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import msgspec
import pytest
from axonize_backend import errors
from axonize_backend.api.problems import PROBLEM_DETAILS, NotFoundProblem
from litestar import Litestar, get, post
from litestar.params import FromPath, JSONBody
from litestar.testing import TestClient


class Body(msgspec.Struct):
    n: int


@get("/raise/{what:str}", sync_to_thread=False)
def raise_(what: FromPath[str]) -> None:
    raise {
        "conflict": errors.TenantExists("tenant 'x' exists"),
        "unauthorized": errors.Unauthorized("no key"),
        "bad": errors.BadRequest("bad body"),
        "busy": errors.Overloaded("busy"),
        "missing": NotFoundProblem("no such thing"),
        "bug": RuntimeError("secret detail"),
    }[what]


@post("/typed", sync_to_thread=False)
def typed(data: JSONBody[Body]) -> int:
    return data.n


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient[Litestar]]:
    app = Litestar([raise_, typed], plugins=[PROBLEM_DETAILS], debug=False)
    with TestClient(app) as c:
        yield c


@pytest.mark.parametrize(("what", "status", "title", "detail"), [
    ("conflict", 409, "Conflict", "tenant 'x' exists"),
    ("unauthorized", 401, "Unauthorized", "no key"),
    ("bad", 400, "Bad Request", "bad body"),
    ("busy", 503, "Service Unavailable", "busy"),
    ("missing", 404, "Not Found", "no such thing"),
])
def test_errors_become_problem_documents(client: TestClient[Litestar], what: str, status: int,
                                         title: str, detail: str) -> None:
    r = client.get(f"/raise/{what}")
    assert r.status_code == status
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json() == {"type": "about:blank", "title": title, "status": status,
                        "detail": detail, "instance": f"/raise/{what}"}


def test_overloaded_tells_the_client_when_to_retry(client: TestClient[Litestar]) -> None:
    assert client.get("/raise/busy").headers["retry-after"] == "1"


def test_an_unexpected_error_is_logged_and_answered_without_its_details(
        client: TestClient[Litestar], caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="axonize.server"):
        r = client.get("/raise/bug")
    assert r.status_code == 500 and "secret" not in r.text
    assert r.json()["detail"] == "internal error"
    assert r.headers["content-type"].startswith("application/problem+json")
    (record,) = [rec for rec in caplog.records if rec.name == "axonize.server"]
    assert "GET /raise/bug failed" in record.getMessage()
    assert record.exc_info is not None and "secret detail" in str(record.exc_info[1])


def test_litestar_errors_are_problem_documents_too(client: TestClient[Litestar]) -> None:
    r = client.get("/no/such/route")
    assert (r.status_code, r.json()["title"]) == (404, "Not Found")
    assert r.headers["content-type"].startswith("application/problem+json")
    r = client.post("/typed", json={"n": "not a number"})
    assert r.status_code == 400 and r.json()["title"] == "Bad Request"
    assert r.json()["errors"] and r.json()["instance"] == "/typed"
    r = client.get("/typed")
    assert r.status_code == 405 and r.json()["title"] == "Method Not Allowed"
