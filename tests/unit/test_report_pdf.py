"""The compliance report as a PDF, read back the way a reader sees it: pdftotext for its words (and
where they are on the page), pdftoppm for its pages, pdfimages for its plots; and `rig verify-report`
on the PDF itself."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image
from synthetic_run import INSTRUMENTS, SPEC, make_run

from rig.cli import main
from rig.records import plots
from rig.records.pdf_styles import MARGIN
from rig.records.report import build_report
from rig.records.signing import Signer
from rig.records.store import ResultsStore

POPPLER = ("pdftotext", "pdftoppm", "pdfimages")
pytestmark = pytest.mark.skipif(any(shutil.which(tool) is None for tool in POPPLER),
                                reason="poppler-utils (pdftotext, pdftoppm, pdfimages) not installed")

# Notes far wider than their column, yet short enough to stay in it.
WRAP_WORDS = [f"wrapcheck{i}" for i in range(7)]
LONG_WORD = "L" * 120
UNCERTIFIED = {"role": "thermometer", "model": "TH-1", "serial": "T5", "certificate": "", "cal_due": None,
               "resource": "ASRL/dev/ttyUSB0::INSTR"}
BBOX_WORD = re.compile(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="[\d.]+">([^<]*)</word>')
DARK_LEVEL = 128  # 8-bit grey below which a pixel is ink
MIN_INK_FRACTION = 0.002


def _run(*args: str) -> str:
    return subprocess.run(args, capture_output=True, text=True, check=True, timeout=60).stdout


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """One signed run with plots, an instrument with neither certificate nor due date, no ambient
    recorded and long notes, reported once for the module: (pdf path, its text, run id, signer)."""
    folder = tmp_path_factory.mktemp("pdf")
    store = ResultsStore(f"sqlite:///{folder / 'results.sqlite'}")
    signer = Signer(os.urandom(32), "test")
    try:
        run_id = make_run(store, signer=signer, instruments=[*INSTRUMENTS, UNCERTIFIED], ambient=None,
                          verdict_notes=" ".join(WRAP_WORDS))
        pdf = build_report(store, run_id, folder / "reports", SPEC, signer=signer).pdf
    finally:
        store.close()
    assert pdf is not None
    return pdf, _run("pdftotext", "-layout", str(pdf), "-"), run_id, signer


def test_pdf_shows_the_run_and_no_raw_values(rendered):
    pdf, text, run_id, signer = rendered
    for expected in ("IX-30 compliance report", "Overall verdict: PASS", "SN0042", "2.4.1", "line-1/st-3",
                     "alice", "calibrate", "guard band w = U", "Started (UTC)", "Finished (UTC)",
                     "Before (as found)", "After (as left)", "116.5", "Max |residual|", "0.004",
                     "As found", "As left", "NEG-DC-1000ohm-10mA", "C-77", "2099-01-31", "OVERDUE", "QA-123",
                     "no due date recorded", "not recorded", "±(1 % of setpoint", "CALIBRATION DUE-DATE OVERRIDE",
                     "INSTRUMENT PAST CALIBRATION DUE DATE",
                     signer.verifier.key_id, f"rig verify-report {pdf.name}", "Approved by", f"run {run_id}"):
        assert expected in text, expected
    assert re.search(r"Ambient\s+not recorded", text)
    assert "{" not in text and "}" not in text  # no dict repr
    assert not re.search(r"\bNone\b", text)
    assert not re.search(r"\bnan\b", text, re.IGNORECASE)
    images = [line.split() for line in _run("pdfimages", "-list", str(pdf)).splitlines()[2:]]
    assert [i[2] for i in images].count("image") == 3  # dc, reading current, reading voltage, as in the HTML


def test_every_page_is_numbered_and_renders(rendered, tmp_path):
    pdf, text, _, _ = rendered
    numbers = [(int(n), int(m)) for n, m in re.findall(r"page (\d+) of (\d+)", text)]
    total = numbers[0][1]
    assert total > 1 and numbers == [(n, total) for n in range(1, total + 1)]
    _run("pdftoppm", "-png", "-r", "50", str(pdf), str(tmp_path / "page"))
    pages = sorted(tmp_path.glob("page*.png"))
    assert len(pages) == total
    for page in pages:
        grey = Image.open(page).convert("L")
        ink = sum(grey.histogram()[:DARK_LEVEL])
        assert ink > MIN_INK_FRACTION * grey.width * grey.height, f"{page.name} is blank"


def test_long_text_wraps_inside_the_page(rendered):
    pdf, _, _, _ = rendered
    bbox = _run("pdftotext", "-bbox", str(pdf), "-")
    width = float(re.search(r'<page width="([\d.]+)"', bbox).group(1))
    words = [(float(x0), float(y0), float(x1), word) for x0, y0, x1, word in BBOX_WORD.findall(bbox)]
    outside = [w for w in words if w[0] < MARGIN - 1 or w[2] > width - MARGIN + 1]
    assert not outside, f"text beyond the margins (page width {width}): {outside[:5]}"
    lines_of_notes = {round(y0) for _, y0, _, word in words if word in WRAP_WORDS}
    assert len(lines_of_notes) >= 9  # 3 rows carry the notes, each wrapped onto several lines


def _words_outside(pdf: Path) -> list[str]:
    bbox = _run("pdftotext", "-bbox", str(pdf), "-")
    width = float(re.search(r'<page width="([\d.]+)"', bbox).group(1))
    return [word for x0, _, x1, word in BBOX_WORD.findall(bbox)
            if float(x0) < MARGIN - 1 or float(x1) > width - MARGIN + 1]


@pytest.mark.usefixtures("no_plots")
def test_a_note_longer_than_its_column_goes_below_the_table(store, tmp_path):
    """A table row cannot break across pages: a note taller than a page would stop the PDF."""
    notes = " ".join([*(f"word{i}" for i in range(300)), LONG_WORD])
    pdf = build_report(store, make_run(store, verdict_notes=notes), tmp_path, SPEC).pdf
    text = _run("pdftotext", "-layout", str(pdf), "-")
    assert "see note 1 below" in text and "Note 3 (reading_voltage): word0 word1" in text
    assert text.count("word299") == 3 and text.count("L" * 40) >= 3  # nothing lost
    assert not _words_outside(pdf)


@pytest.fixture
def no_plots(monkeypatch):
    monkeypatch.setattr(plots, "error_figures", lambda points, spec: [])


def _verify(pdf: Path, store: ResultsStore, capsys) -> tuple[int, str]:
    code = main(["verify-report", str(pdf), "--db", store.url])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


@pytest.mark.usefixtures("no_plots")
def test_signed_pdf_verifies_and_an_edit_is_caught(store, tmp_path, station_key, capsys):
    run_id = make_run(store, signer=station_key)
    pdf = build_report(store, run_id, tmp_path, SPEC, signer=station_key).pdf
    code, out = _verify(pdf, store, capsys)
    assert code == 0 and out.startswith(f"verified: run {run_id}"), out
    content = pdf.read_bytes()
    pdf.write_bytes(content.replace(b"compliance report", b"compliance rep0rt", 1))
    code, out = _verify(pdf, store, capsys)
    assert code == 1 and "body was edited" in out, out


@pytest.mark.usefixtures("no_plots", "no_station_key")
def test_unsigned_pdf_verifies_as_unsigned_and_a_foreign_pdf_is_refused(store, tmp_path, capsys):
    run_id = make_run(store)
    pdf = build_report(store, run_id, tmp_path, SPEC).pdf
    code, out = _verify(pdf, store, capsys)
    assert code == 3 and out.startswith("unsigned: integrity not proven"), out
    foreign = tmp_path / "foreign.pdf"
    foreign.write_bytes(pdf.read_bytes().replace(b"rig-report-stamp:", b"not-a-rig-stamp:!"))
    code, out = _verify(foreign, store, capsys)
    assert code == 2 and "no rig-report-stamp" in out and len(out.strip().splitlines()) == 1, out
    content = pdf.read_bytes()
    cut = content[:content.index(b"rig-report-stamp:") + 40]
    for name, bad in (("cut.pdf", cut), ("garbled.pdf", content.replace(b"rig-report-stamp:", b"rig-report-stamp:!!"))):
        (tmp_path / name).write_bytes(bad)
        code, out = _verify(tmp_path / name, store, capsys)
        assert code == 2 and "bad rig-report-stamp" in out and len(out.strip().splitlines()) == 1, out
