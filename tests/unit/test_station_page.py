"""The station page without a bench: its state model, the operator's actions and their refusals,
prompts and their audit, the password gate and the routes that serve files."""

from __future__ import annotations

import base64
import datetime as dt

import pytest
from starlette.testclient import TestClient

from rig.cli import main
from rig.keys import KeySource
from rig.records.audit import AuditLog
from rig.session.events import PhaseStarted, PointMeasured, RunStarted, TraceSamples
from rig.spec import load_spec
from rig.station import StationError, parse_station
from rig.station_ui.app import build_app
from rig.station_ui.auth import StationAuth, is_loopback
from rig.station_ui.controller import StationRefusal
from rig.station_ui.server import build_controller
from rig.station_ui.slot_runner import RunEnd
from rig.station_ui.state import TRACE_SAMPLES_MAX, SlotView, StationState

TODAY = dt.date(2026, 11, 30)


def _station(cal_due: dt.date | None = None, prompts: tuple = ()) -> object:
    due = {"cal_due": cal_due} if cal_due else {}
    return parse_station({
        "name": "ST-T",
        "instruments": [
            {"id": "pa1", "model": "N6705C", "serial": "MY1", "resource": "TCPIP::127.0.0.1::9::SOCKET",
             "certificate": "C1", **due},
            {"id": "load1", "model": "RDEC-1M", "serial": "RD1", "resource": "TCPIP::127.0.0.1::8::SOCKET",
             "certificate": "C2"},
        ],
        "slots": [{"slot": 1, "dut": "/dev/null", "ammeter": {"instrument": "pa1", "channel": 1},
                   "voltmeter": {"instrument": "pa1", "channel": 2}, "load": {"instrument": "load1"}}],
        "prompts": list(prompts),
    }, "test.toml")


@pytest.fixture
def make(store, tmp_path, monkeypatch):
    """A controller on a station without a bench; runner.start records its requests instead of forking."""
    def build(station=None, auto_confirm=False, station_file=None):
        controller = build_controller(station or _station(), KeySource(table={}), load_spec(), store,
                                      station_file=station_file, calibrations_dir=tmp_path / "cal",
                                      reports_dir=tmp_path / "rep", auto_confirm=auto_confirm)
        controller.started = []
        monkeypatch.setattr(controller.runner, "start", controller.started.append)
        controller.clock = lambda: TODAY
        controller.refresh_due_dates(TODAY)
        return controller
    return build


def _audit(controller) -> list[dict]:
    log = AuditLog.for_station(controller.ctx.calibrations_dir, controller.ctx.station.name)
    log.verify_chain()
    return [e.record for e in log.entries()]


def test_start_is_refused_until_signed_in_and_scanned(make):
    controller = make()
    with pytest.raises(StationRefusal, match="sign in"):
        controller.start(1)
    controller.sign_in("  Ann   Lee ")
    with pytest.raises(StationRefusal, match="scan"):
        controller.start(1)
    with pytest.raises(StationRefusal, match="cannot name a folder"):
        controller.scan(1, "../SN1")
    assert controller.state.view(1).message.startswith("scanned serial")
    controller.scan(1, "SN000123")
    controller.start(1)
    (request,) = controller.started
    assert (request.slot, request.serial, request.operator, request.override_reason) == (1, "SN000123", "Ann Lee",
                                                                                        None)
    assert controller.state.view(1).scanned == ""  # the next unit must be scanned again


def test_past_due_locks_the_slot_until_an_override_reason(make):
    controller = make(_station(cal_due=TODAY - dt.timedelta(days=1)))
    view = controller.state.view(1)
    assert view.locked and view.due[0].overdue and "pa1" in view.due[0].instrument
    controller.sign_in("Ann")
    controller.scan(1, "SN000123")
    with pytest.raises(StationRefusal, match="override reason"):
        controller.start(1, "   ")
    assert controller.started == []
    controller.start(1, "certificate renewal pending, QA ok")
    assert controller.started[0].override_reason == "certificate renewal pending, QA ok"


def test_due_soon_is_a_warning_only_until_the_date_passes(make):
    controller = make(_station(cal_due=TODAY + dt.timedelta(days=10)))
    view = controller.state.view(1)
    assert not view.locked and view.due and not view.due[0].overdue
    controller.sign_in("Ann")
    controller.scan(1, "SN000123")
    controller.clock = lambda: TODAY + dt.timedelta(days=11)  # the server ran past the due date
    with pytest.raises(StationRefusal, match="past its calibration due date"):
        controller.start(1)
    assert controller.state.view(1).locked and controller.started == []


def test_before_run_prompt_rejected_then_confirmed_is_audited_and_goes_with_the_run(make):
    prompt = {"when": "before_run", "text": "Insert the unit in slot {slot}", "image": "insert-unit.svg"}
    controller = make(_station(prompts=(prompt,)))
    controller.sign_in("Ann")
    controller.scan(1, "SN000123")
    controller.start(1)
    view = controller.state.view(1)
    assert view.status == "prompt" and view.prompt.text == "Insert the unit in slot 1"
    assert view.prompt.image_url == "/prompt-images/insert-unit.svg"
    with pytest.raises(StationRefusal, match="no such prompt"):
        controller.answer(1, view.prompt.prompt_id + 1, True)
    controller.answer(1, view.prompt.prompt_id, False)
    assert controller.started == [] and controller.state.view(1).status == "idle"
    controller.scan(1, "SN000123")
    controller.start(1)
    controller.answer(1, controller.state.view(1).prompt.prompt_id, True)
    (request,) = controller.started
    assert [a["answer"] for a in request.answers] == ["confirmed"]
    entries = _audit(controller)
    assert [(e["event"], e["answer"], e["unit_serial"], e["operator"]) for e in entries] == [
        ("operator_prompt", "rejected", "SN000123", "Ann"), ("operator_prompt", "confirmed", "SN000123", "Ann")]


def test_auto_confirm_answers_and_records_every_prompt(make):
    prompt = {"when": "before_run", "text": "Connect the electrodes"}
    controller = make(_station(prompts=(prompt,)), auto_confirm=True)
    controller.sign_in("line robot")
    controller.scan(1, "SN000123")
    controller.start(1)
    (request,) = controller.started
    assert request.answers[0]["auto"] is True and request.answers[0]["answer"] == "confirmed"
    assert _audit(controller)[0]["auto"] is True


def test_after_fail_prompt_is_audited_with_the_run(make):
    prompt = {"when": "after_fail", "text": "Move the unit to the rework tray"}
    controller = make(_station(prompts=(prompt,)))
    controller.sign_in("Ann")
    controller._run_ended(RunEnd(1, "PASS", "all as-left points inside the spec", run_id=6))
    assert controller.state.view(1).prompt is None and controller.state.view(1).verdict == "PASS"
    controller._run_ended(RunEnd(1, "FAIL", "not persisted", failing="calibration", run_id=7))
    view = controller.state.view(1)
    assert (view.status, view.verdict, view.failing) == ("prompt", "FAIL", "calibration")
    controller.answer(1, view.prompt.prompt_id, True)
    assert controller.state.view(1).status == "finished"
    assert [(e["run_id"], e["when"], e["answer"]) for e in _audit(controller)] == [(7, "after_fail", "confirmed")]


def test_station_file_prompts_are_checked(make, tmp_path):
    with pytest.raises(StationError, match="prompts"):
        _station(prompts=({"when": "sometimes", "text": "x"},))
    with pytest.raises(StationError, match=r"prompts\[0\]\.image"):
        make(_station(prompts=({"when": "before_run", "text": "x", "image": "missing.png"},)),
             station_file=tmp_path / "station.toml")
    (tmp_path / "jig.png").write_bytes(b"\x89PNG")
    controller = make(_station(prompts=({"when": "before_run", "text": "x", "image": "jig.png"},)),
                      station_file=tmp_path / "station.toml")
    assert controller.images.path("jig.png") == tmp_path / "jig.png"
    assert controller.images.path("../jig.png") is None


def test_state_log_snapshot_and_trace():
    state = StationState("S", [SlotView(1), SlotView(2)], virtual=True, auto_confirm=False)
    first = state.update(1, "phase", phase="as-found", total=3)
    state.point_done(1)
    events = state.events_after(first["seq"] - 1)
    assert [e["type"] for e in events] == ["phase", "point"]
    assert events[1]["state"]["done"] == 1 and events[1]["total"] == 3
    state.trace(2, "overcurrent", [0.0, 0.1], [1.0, 2.0])
    state.trace(2, "overcurrent", [float(i) for i in range(TRACE_SAMPLES_MAX)], [1.0] * TRACE_SAMPLES_MAX)
    assert len(state.view(2).trace_t_s) == TRACE_SAMPLES_MAX
    state.trace(2, "ramp", [0.0], [0.5])
    assert state.view(2).trace_t_s == [0.0] and state.view(2).trace_label == "ramp"
    assert state.snapshot()["slots"][1]["trace_ma"] == [0.5]
    for _ in range(2100):
        state.point_done(1)
    assert state.events_after(first["seq"]) is None  # fell behind: the stream sends a snapshot
    with pytest.raises(AttributeError):
        state.update(1, "x", no_such_field=1)


def test_non_loopback_host_needs_a_password(monkeypatch, capsys):
    monkeypatch.delenv("RIG_TEST_NO_SUCH_PASSWORD", raising=False)
    assert main(["station", "--host", "0.0.0.0", "--password-env", "RIG_TEST_NO_SUCH_PASSWORD"]) == 2
    out = capsys.readouterr().out.strip()
    assert "--host 0.0.0.0" in out and "RIG_TEST_NO_SUCH_PASSWORD" in out and len(out.splitlines()) == 1
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("station3.line") and not is_loopback("10.0.0.5")


def test_port_in_use_is_one_line_before_any_bench_starts(capsys):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["station", "--port", str(port)]) == 2
    out = capsys.readouterr().out.strip()
    assert f"--port {port}: cannot listen there" in out and len(out.splitlines()) == 1


def test_password_gate_on_posts_stream_and_pages(make):
    controller = make()
    client = TestClient(build_app(controller, StationAuth("s3cret")))
    assert client.get("/", follow_redirects=False).headers["location"] == "/login"
    assert client.get("/static/station.js").status_code == 200
    assert client.post("/api/signin", json={"operator": "Ann"}).status_code == 401
    assert client.get("/events").status_code == 401
    assert client.get("/api/history").status_code == 401
    assert client.post("/login", data={"password": "wrong"}).status_code == 401
    basic = base64.b64encode(b"op:s3cret").decode()
    assert client.post("/api/signin", json={"operator": "Ann"},
                       headers={"Authorization": f"Basic {basic}"}).status_code == 200
    bad = base64.b64encode(b"op:s3cre").decode()
    assert client.post("/api/signin", json={"operator": "Ann"},
                       headers={"Authorization": f"Basic {bad}"}).status_code == 401
    assert client.post("/login", data={"password": "s3cret"}, follow_redirects=False).status_code == 303
    assert client.post("/api/signin", json={"operator": "Bob"}).status_code == 200  # the session cookie
    assert controller.state.operator == "Bob"


def test_api_refusals_and_served_files(make, tmp_path):
    controller = make()
    client = TestClient(build_app(controller, StationAuth(None)))
    assert client.post("/api/slots/1/start", json={}).json()["error"].startswith("sign in")
    assert client.post("/api/slots/1/start", content=b"{not json").status_code == 400
    assert client.post("/api/slots/7/scan", json={"serial": "SN1"}).status_code == 409
    assert client.post("/api/slots/1/prompt", json={"prompt_id": "1", "confirmed": True}).status_code == 400
    assert client.post("/api/slots/1/stop").status_code == 409
    (tmp_path / "rep").mkdir()
    (tmp_path / "rep" / "run-3.html").write_text("<html>report</html>")
    (tmp_path / "rep" / "results.sqlite").write_text("db")
    assert client.get("/reports/run-3.html").text == "<html>report</html>"
    assert client.get("/reports/results.sqlite").status_code == 404
    assert client.get("/reports/run-4.html").status_code == 404
    assert client.get("/prompt-images/insert-unit.svg").headers["content-type"].startswith("image/svg")
    assert client.get("/prompt-images/..%2F..%2Fapp.py").status_code == 404
    assert client.get("/api/history").json() == {"serial": "", "runs": []}
    assert client.get("/api/state").json()["slots"][0]["slot"] == 1


def test_run_messages_become_page_events(make):
    """slot_runner's translation of a worker's messages: the session's progress events, then the outcome."""
    controller = make()
    runner, state = controller.runner, controller.state
    phases = ("as-found", "characterise", "write", "as-left", "cutoffs")
    assert runner._handle(1, ("event", 1, RunStarted(1, 7, "end-of-line", phases, 9))) is None
    assert runner._handle(1, ("event", 1, PhaseStarted(1, "as-found", 3))) is None
    runner._handle(1, ("event", 1, PointMeasured(1, "as-found", "p1", 1, 3, "PASS")))
    runner._handle(1, ("event", 1, TraceSamples(1, "overcurrent", (0.0, 0.25), (0.0, 31.5))))
    view = state.view(1)
    assert (view.plan, view.phase, view.done, view.total, view.trace_ma, view.trace_label) == (
        list(phases), "as-found", 1, 3, [0.0, 31.5], "overcurrent")
    assert runner._handle(1, ("outcome", 1, "the outcome")) == "the outcome"
    assert [e["type"] for e in state.events_after(0)][-3:] == ["phase", "point", "trace"]
