"""Reference servers measured beside the daemon: one SQLite insert per request, and a bare JSON echo.

Run as `python -m bench.reference_app insert|echo PORT DB_PATH DURABILITY`.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import uuid

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


def insert_app(db_path: str, durability: str) -> Starlette:
    """Starlette doing exactly one committed SQLite insert per request, with the daemon's durability."""
    conn = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={'FULL' if durability == 'full' else 'NORMAL'}")
    conn.execute("CREATE TABLE IF NOT EXISTS hits (id TEXT PRIMARY KEY, body TEXT NOT NULL)")

    async def hit(request: Request) -> JSONResponse:
        body = await request.body()
        signal_id = str(uuid.uuid4())
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO hits (id, body) VALUES (?, ?)", (signal_id, body.decode()))
        conn.execute("COMMIT")
        return JSONResponse({"success": True, "id": signal_id, "payload": json.loads(body)})

    return Starlette(routes=[Route("/webhook/{strategy}/{token}", hit, methods=["POST"])])


def echo_app() -> Starlette:
    """Starlette answering with the parsed body: the floor of what any Python intake costs."""

    async def echo(request: Request) -> JSONResponse:
        return JSONResponse({"success": True, "payload": json.loads(await request.body())})

    return Starlette(routes=[Route("/webhook/{strategy}/{token}", echo, methods=["POST"])])


if __name__ == "__main__":
    kind, port = sys.argv[1], int(sys.argv[2])
    app = insert_app(sys.argv[3], sys.argv[4]) if kind == "insert" else echo_app()
    uvicorn.run(app, host="127.0.0.1", port=port, access_log=False, log_level="warning")
