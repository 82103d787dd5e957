"""The station's ASGI app (Starlette): the page, its event stream (SSE), the operator's POSTs, the
history, the reports and the prompt images. Runs belong to the server, not to a connection: a page
that closes or reloads changes nothing, and a new stream starts with the true state of every slot."""

from __future__ import annotations

import asyncio
import json
import re
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from sse_starlette.sse import EventSourceResponse
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from rig.station_ui import history
from rig.station_ui.auth import COOKIE, StationAuth
from rig.station_ui.controller import StationController, StationRefusal

STREAM_POLL_S = 0.15
REPORT_NAME = re.compile(r"run-\d{1,12}\.(html|pdf)")
MAX_BODY_BYTES = 16_384


def _static_dir() -> Path:
    return Path(str(resources.files("rig.station_ui").joinpath("static")))


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise _Refused(413, f"request body over {MAX_BODY_BYTES} bytes")
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise _Refused(400, "request body: not JSON") from None
    if not isinstance(data, dict):
        raise _Refused(400, "request body: a JSON object expected")
    return data


def _slot_number(request: Request) -> int:
    text = request.path_params["slot"]
    if not text.isdigit() or len(text) > 4:
        raise _Refused(404, f"no slot {text!r}")
    return int(text)


class _AuthGate:
    """Every request but the sign-in page and the static assets needs the station password (when set)."""

    def __init__(self, app: ASGIApp, auth: StationAuth) -> None:
        self.app, self.auth = app, auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        if self.auth.allowed(scope["path"], request.cookies, request.headers.get("authorization")):
            await self.app(scope, receive, send)
            return
        if scope["method"] == "GET" and scope["path"] == "/":
            response: Response = RedirectResponse("/login", status_code=303)
        else:
            response = JSONResponse({"error": "station password required"}, status_code=401,
                                    headers={"WWW-Authenticate": 'Basic realm="rig station"'})
        await response(scope, receive, send)


def build_app(controller: StationController, auth: StationAuth) -> ASGIApp:
    state, ctx = controller.state, controller.ctx
    reports_dir = Path(ctx.reports_dir)

    async def act(request: Request, action) -> Response:
        try:
            result = await action()
        except _Refused as exc:
            return JSONResponse({"error": str(exc)}, status_code=exc.status)
        except StationRefusal as exc:
            return JSONResponse({"error": str(exc)}, status_code=409)
        return JSONResponse(result or {"ok": True})

    async def index(_request: Request) -> Response:
        return FileResponse(_static_dir() / "index.html", headers={"Cache-Control": "no-store"})

    async def login_page(_request: Request) -> Response:
        return FileResponse(_static_dir() / "login.html")

    async def login(request: Request) -> Response:
        # The one form of the page (urlencoded): parsed here, no multipart parser needed.
        raw = (await request.body())[:MAX_BODY_BYTES].decode("utf-8", errors="replace")
        given = (parse_qs(raw).get("password") or [""])[0]
        if not auth.password_ok(given):
            return HTMLResponse("<p>Wrong station password. <a href='/login'>Again</a></p>", status_code=401)
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(COOKIE, auth.session_token(), httponly=True, samesite="strict")
        return response

    async def snapshot(_request: Request) -> Response:
        return JSONResponse(state.snapshot())

    async def events(request: Request) -> Response:
        async def stream():
            snap = state.snapshot()
            seq = snap["seq"]
            yield {"event": "snapshot", "id": str(seq), "data": json.dumps(snap)}
            while not await request.is_disconnected():
                new = state.events_after(seq)
                if new is None:  # fell behind the kept events: the true state instead
                    snap = state.snapshot()
                    seq = snap["seq"]
                    yield {"event": "snapshot", "id": str(seq), "data": json.dumps(snap)}
                    continue
                for event in new:
                    seq = event["seq"]
                    yield {"event": event["type"], "id": str(seq), "data": json.dumps(event)}
                if not new:
                    await asyncio.sleep(STREAM_POLL_S)

        return EventSourceResponse(stream(), ping=15)

    async def sign_in(request: Request) -> Response:
        async def do():
            controller.sign_in((await _body(request)).get("operator", ""))
        return await act(request, do)

    async def scan(request: Request) -> Response:
        async def do():
            controller.scan(_slot_number(request), (await _body(request)).get("serial", ""))
        return await act(request, do)

    async def start(request: Request) -> Response:
        async def do():
            reason = (await _body(request)).get("override_reason")
            controller.start(_slot_number(request), reason if isinstance(reason, str) else None)
        return await act(request, do)

    async def stop(request: Request) -> Response:
        async def do():
            controller.stop(_slot_number(request))
        return await act(request, do)

    async def answer(request: Request) -> Response:
        async def do():
            body = await _body(request)
            prompt_id, confirmed = body.get("prompt_id"), body.get("confirmed")
            if not isinstance(prompt_id, int) or not isinstance(confirmed, bool):
                raise _Refused(400, "prompt answer: prompt_id (integer) and confirmed (true/false) expected")
            controller.answer(_slot_number(request), prompt_id, confirmed)
        return await act(request, do)

    async def history_view(request: Request) -> Response:
        serial = request.query_params.get("serial", "").strip()
        if serial:
            rows = history.unit_history(ctx.store, serial, reports_dir)
        else:
            rows = history.station_runs(ctx.store, ctx.station.name, reports_dir)
        return JSONResponse({"serial": serial, "runs": rows})

    async def report(request: Request) -> Response:
        name = request.path_params["name"]
        path = reports_dir / name
        if not REPORT_NAME.fullmatch(name) or not path.is_file():
            return JSONResponse({"error": f"no report {name!r}"}, status_code=404)
        return FileResponse(path)

    async def prompt_image(request: Request) -> Response:
        path = controller.images.path(request.path_params["name"])
        if path is None:
            return JSONResponse({"error": "no such image"}, status_code=404)
        return FileResponse(path)

    routes = [
        Route("/", index),
        Route("/login", login_page, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/api/state", snapshot),
        Route("/events", events),
        Route("/api/signin", sign_in, methods=["POST"]),
        Route("/api/slots/{slot}/scan", scan, methods=["POST"]),
        Route("/api/slots/{slot}/start", start, methods=["POST"]),
        Route("/api/slots/{slot}/stop", stop, methods=["POST"]),
        Route("/api/slots/{slot}/prompt", answer, methods=["POST"]),
        Route("/api/history", history_view),
        Route("/reports/{name}", report),
        Route("/prompt-images/{name}", prompt_image),
        Mount("/static", app=StaticFiles(directory=_static_dir()), name="static"),
    ]
    app = Starlette(routes=routes)
    return _AuthGate(app, auth)
