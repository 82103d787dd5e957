"""Put a station together (run context, prompts, controller, app) and serve it with uvicorn."""

from __future__ import annotations

import logging
import socket
import threading
import time
from pathlib import Path

import uvicorn

from rig.keys import KeySource
from rig.metrology.decision import DecisionRule
from rig.records.signing import Signer
from rig.records.store import ResultsStore
from rig.session.plans import Plan
from rig.spec import ProductSpec
from rig.station import Station
from rig.station_ui.app import build_app
from rig.station_ui.auth import StationAuth
from rig.station_ui.controller import StationController
from rig.station_ui.prompts import DEFAULT_PROMPTS, PromptImages
from rig.station_ui.slot_runner import RunContext

log = logging.getLogger(__name__)
START_TIMEOUT_S = 20.0


def build_controller(station: Station, keys: KeySource, spec: ProductSpec, store: ResultsStore, *,
                     station_file: Path | None, calibrations_dir: Path, reports_dir: Path,
                     rule: DecisionRule = DecisionRule.GUARD_BAND, signer: Signer | None = None,
                     auto_confirm: bool = False, plan: Plan = Plan.END_OF_LINE) -> StationController:
    """The station's controller; the virtual bench gets the prompts a line station would declare.
    A prompt image that exists nowhere is refused here (StationError), before the page is served."""
    if station.virtual and not station.prompts:
        station = station.model_copy(update={"prompts": DEFAULT_PROMPTS})
    images = PromptImages(station_file.parent if station_file is not None else None)
    images.check(list(station.prompts), str(station_file or "<virtual bench>"))
    ctx = RunContext(station, keys, spec, store, Path(calibrations_dir), Path(reports_dir), rule, signer, plan)
    return StationController(ctx, images, auto_confirm=auto_confirm)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class StationServer:
    """uvicorn in a thread of this process (tests, benchmarks): `with StationServer(c, auth) as s: s.url`.
    On leaving, every running slot is stopped and waited for (each left safe, marked aborted)."""

    def __init__(self, controller: StationController, auth: StationAuth, host: str = "127.0.0.1",
                 port: int | None = None) -> None:
        self.controller, self.host = controller, host
        self.port = port or free_port(host)
        config = uvicorn.Config(build_app(controller, auth), host=host, port=self.port, log_level="warning",
                                lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="station-server", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> StationServer:
        self.thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError(f"station server did not start on {self.url}")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.runner.stop_all()
        self.server.should_exit = True
        self.thread.join(timeout=10)


def listening_socket(host: str, port: int) -> socket.socket:
    """The server's socket, bound before anything else starts: a port in use is one line (OSError),
    not a bench started for nothing and a server that exits on its own."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(f"--host {host} --port {port}: cannot listen there: {exc.strerror}") from None
    return sock


def serve(controller: StationController, auth: StationAuth, sock: socket.socket) -> None:
    """Serve on sock until Ctrl-C / SIGTERM; then stop every running slot (each left safe, marked aborted)."""
    config = uvicorn.Config(build_app(controller, auth), log_level="warning", lifespan="off",
                            timeout_graceful_shutdown=2)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        controller.runner.stop_all()
