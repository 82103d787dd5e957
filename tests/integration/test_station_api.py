"""The station page's API on a 4-slot virtual bench: two full runs at once with the event stream of
each, a bench fault failing its requirement, prompts answered and audited, the history, a scanned
serial that is not the unit's, and Stop."""

from __future__ import annotations

import httpx
import pytest

from rig.records.audit import AuditLog
from rig.session.plans import Plan
from tests.integration.station_page import FAULTY_SLOT, EventRecorder, station_page, wait_for

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("station")
    # The calibrate plan (the page's phases without the cut-offs): the end-of-line plan the station runs
    # by default is the browser test's (tests/e2e), one cut-off suite in CI is enough.
    with station_page(tmp, plan=Plan.CALIBRATE) as server:
        server.tmp = tmp
        yield server


def _post(page, path: str, body: dict | None = None) -> httpx.Response:
    return httpx.post(f"{page.url}{path}", json=body or {}, timeout=10)


def _slot(page, number: int) -> dict:
    return httpx.get(f"{page.url}/api/state", timeout=10).json()["slots"][number - 1]


def _start_confirmed(page, number: int, serial: str) -> None:
    assert _post(page, f"/api/slots/{number}/scan", {"serial": serial}).status_code == 200
    assert _post(page, f"/api/slots/{number}/start").status_code == 200
    prompt = wait_for(lambda: _slot(page, number)["prompt"], f"slot {number}'s prompt", 10.0)
    assert prompt["when"] == "before_run" and prompt["image_url"]
    assert _post(page, f"/api/slots/{number}/prompt",
                 {"prompt_id": prompt["prompt_id"], "confirmed": True}).status_code == 200


def _finished(page, number: int) -> dict | None:
    view = _slot(page, number)
    return view if view["verdict"] else None


def test_two_full_runs_at_once_stream_their_events(page):
    assert _post(page, "/api/signin", {"operator": "Ann Tester"}).status_code == 200
    serial = {n: _slot(page, n)["hint_serial"] for n in (1, FAULTY_SLOT)}
    with EventRecorder(page.url) as stream:
        assert stream.events[0]["event"] == "snapshot"
        _start_confirmed(page, 1, serial[1])
        _start_confirmed(page, FAULTY_SLOT, serial[FAULTY_SLOT])
        wait_for(lambda: _slot(page, 1)["done"] > 0, "slot 1's first point", 60.0)
        # A second page (a reload) gets the true state at once; closing it stops nothing.
        with EventRecorder(page.url) as reload:
            assert reload.events[0]["slots"][0]["status"] == "running"
        passed = wait_for(lambda: _finished(page, 1), "slot 1's verdict")
        failed = wait_for(lambda: _finished(page, FAULTY_SLOT), "slot 2's verdict")
        assert (passed["verdict"], passed["safe"], passed["failing"]) == ("PASS", "output off", ""), passed["reason"]
        assert (failed["verdict"], failed["failing"], failed["safe"]) == ("FAIL", "calibration", "output off"), (
            failed["reason"])
        wait_for(lambda: stream.of_slot(FAULTY_SLOT)[-1]["event"] == "prompt", "the after-FAIL prompt", 10.0)
    one, two = stream.of_slot(1), stream.of_slot(FAULTY_SLOT)
    assert [e["phase"] for e in one if e["event"] == "phase"] == ["as-found", "characterise", "write", "as-left"]
    assert [e["phase"] for e in two if e["event"] == "phase"] == ["as-found", "characterise", "write"]
    for events in (one, two):
        kinds = [e["event"] for e in events]
        assert kinds[:5] == ["scanned", "scan_used", "prompt", "prompt_done", "run_started"]
        assert kinds.count("run_started") == kinds.count("run_finished") == 1
        points = [e for e in events if e["event"] == "point"]
        assert points and all(0 < p["done"] <= p["total"] for p in points)
    finished = [e for e in one if e["event"] == "run_finished"][0]
    assert finished["verdict"] == "PASS" and finished["report_url"] == f"/reports/run-{finished['run_id']}.html"
    started_two = [e["seq"] for e in two if e["event"] == "run_started"][0]
    assert started_two < finished["seq"]  # both slots ran at once
    report = httpx.get(page.url + finished["report_url"], timeout=10)
    assert report.status_code == 200 and serial[1] in report.text

    prompt = failed["prompt"]
    assert prompt["when"] == "after_fail" and "rework" in prompt["text"]
    assert _post(page, f"/api/slots/{FAULTY_SLOT}/prompt",
                 {"prompt_id": prompt["prompt_id"], "confirmed": True}).status_code == 200
    audit = [e.record for e in AuditLog.for_station(page.tmp / "cal", page.controller.ctx.station.name).entries()]
    prompts = [(e["slot"], e["when"], e["answer"], e["run_id"]) for e in audit if e["event"] == "operator_prompt"]
    assert prompts == [(1, "before_run", "confirmed", None), (FAULTY_SLOT, "before_run", "confirmed", None),
                       (FAULTY_SLOT, "after_fail", "confirmed", failed["run_id"])]
    run = page.controller.ctx.store.run(passed["run_id"])
    assert run["operator"] == "Ann Tester"
    assert [p["answer"] for p in run["settings"]["operator_prompts"]] == ["confirmed"]

    station_runs = httpx.get(f"{page.url}/api/history", timeout=10).json()["runs"]
    assert {(r["run_id"], r["verdict"]) for r in station_runs} >= {(passed["run_id"], "PASS"),
                                                                   (failed["run_id"], "FAIL")}
    (unit,) = httpx.get(f"{page.url}/api/history", params={"serial": serial[1]}, timeout=10).json()["runs"]
    assert unit["as_left"]["points"] > 0 and unit["as_left"]["not_pass"] == 0 and unit["as_found"]["points"] > 0
    assert unit["report_url"] == finished["report_url"]


def test_scanned_serial_that_is_not_the_units_is_refused_before_anything_runs(page):
    _post(page, "/api/signin", {"operator": "Ann Tester"})
    real = _slot(page, 3)["hint_serial"]
    runs_before = len(page.controller.ctx.store.runs())
    _start_confirmed(page, 3, "SN999999")
    view = wait_for(lambda: _finished(page, 3), "slot 3's refusal", 60.0)
    assert view["verdict"] == "ERROR" and "SN999999" in view["reason"] and real in view["reason"]
    assert view["run_id"] is None and len(page.controller.ctx.store.runs()) == runs_before


def test_stop_ends_the_run_safe_and_aborted(page):
    _post(page, "/api/signin", {"operator": "Ann Tester"})
    _start_confirmed(page, 4, _slot(page, 4)["hint_serial"])
    wait_for(lambda: _slot(page, 4)["done"] >= 5, "slot 4's first points", 60.0)
    assert _post(page, "/api/slots/4/stop").status_code == 200
    view = wait_for(lambda: _finished(page, 4), "slot 4's end", 60.0)
    assert (view["verdict"], view["safe"]) == ("ABORTED", "output off")
    run = page.controller.ctx.store.run(view["run_id"])
    assert run["status"] == "aborted" and "stopped by the operator" in run["message"]
    assert len(page.controller.ctx.store.rows(view["run_id"])["points"]) >= 5
