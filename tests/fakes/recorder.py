"""A loopback server that records every request and answers each with one status: what a venue was sent, seen at the
wire, for venues with no fake of their own (the request as ccxt builds it, answered as a venue that fails)."""

from __future__ import annotations

import threading
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


class Recorder:
    """Every request as (method, path, query, body); answered with `status` and an empty JSON object."""

    def __init__(self, status: int = 503) -> None:
        self.lock = threading.Lock()
        self.status = status
        self.requests: list[dict[str, Any]] = []
        methods = ["GET", "POST", "PUT", "DELETE"]
        self.app = Starlette(routes=[Route("/{path:path}", self._record, methods=methods)])

    async def _record(self, request: Request) -> JSONResponse:
        body = (await request.body()).decode()
        with self.lock:
            self.requests.append({"method": request.method, "path": request.url.path,
                                  "query": dict(request.query_params), "body": body})  # fmt: skip
            return JSONResponse({}, status_code=self.status)
