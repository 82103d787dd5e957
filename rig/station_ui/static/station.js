// The station page: state arrives over Server-Sent Events (/events), operator actions are POSTs.
// The server holds the truth; this script only draws it (a reload or a lost connection changes nothing).
"use strict";
const ALL_PHASES = ["as-found", "characterise", "write", "as-left", "cutoffs"];
const SLOT_EVENTS = ["run_started", "plan", "phase", "point", "run_finished", "prompt", "prompt_done", "scanned",
  "refused", "stopping", "due", "not_started", "scan_used"];
const page = { slots: {}, panels: {}, operator: "", virtual: false };

function $(sel, root) { return (root || document).querySelector(sel); }

async function post(path, body) {
  const response = await fetch(path, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body || {}),
    credentials: "same-origin",
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.error || `HTTP ${response.status}`);
  return data;
}

function panel(slot) {
  if (page.panels[slot]) return page.panels[slot];
  const node = $("#slot-template").content.firstElementChild.cloneNode(true);
  node.id = `slot-${slot}`;
  node.dataset.slot = slot;
  $(".slot-title", node).textContent = `Slot ${slot}`;
  const phases = $(".phases", node);
  ALL_PHASES.forEach((name) => { const li = document.createElement("li"); li.textContent = name; li.dataset.phase = name; phases.appendChild(li); });
  $(".scan", node).addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const input = $(".serial", node);
    const serial = input.value.trim();
    input.value = "";
    try { await post(`/api/slots/${slot}/scan`, { serial }); $(".start", node).focus(); }
    catch (err) { showMessage(slot, err.message); }
  });
  $(".start", node).addEventListener("click", () => startSlot(slot));
  $(".stop", node).addEventListener("click", async () => {
    try { await post(`/api/slots/${slot}/stop`); } catch (err) { showMessage(slot, err.message); }
  });
  $(".confirm", node).addEventListener("click", () => answer(slot, true));
  $(".reject", node).addEventListener("click", () => answer(slot, false));
  $("#slots").appendChild(node);
  page.panels[slot] = node;
  return node;
}

function showMessage(slot, text) { $(".message", panel(slot)).textContent = text; }

async function startSlot(slot) {
  const view = page.slots[slot];
  let reason = null;
  if (view && view.locked) {
    reason = await askOverride(view);
    if (reason === null) return;
  }
  try { await post(`/api/slots/${slot}/start`, reason ? { override_reason: reason } : {}); }
  catch (err) { showMessage(slot, err.message); }
}

function askOverride(view) {
  const dialog = $("#override-dialog");
  $("#override-text").textContent = view.due.filter((d) => d.overdue).map((d) => `${d.instrument}: due ${d.cal_due}`).join("; ");
  $("#override-reason").value = "";
  return new Promise((resolve) => {
    const done = (value) => { dialog.close(); resolve(value); };
    $("#override-cancel").onclick = () => done(null);
    $("#override-form").onsubmit = (ev) => { ev.preventDefault(); const r = $("#override-reason").value.trim(); if (r) done(r); };
    dialog.showModal();
  });
}

async function answer(slot, confirmed) {
  const view = page.slots[slot];
  if (!view || !view.prompt) return;
  try { await post(`/api/slots/${slot}/prompt`, { prompt_id: view.prompt.prompt_id, confirmed }); }
  catch (err) { showMessage(slot, err.message); }
}

function elapsed(view) {
  if (!view.started_at_s) return "";
  const end = view.finished_at_s || Date.now() / 1000;
  const s = Math.max(0, Math.round(end - view.started_at_s));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

function render(slot) {
  const view = page.slots[slot];
  const node = panel(slot);
  node.dataset.status = view.status;
  node.dataset.verdict = view.verdict || "";
  $(".status", node).textContent = view.status;
  $(".scanned", node).textContent = view.scanned ? `scanned ${view.scanned}` :
    (view.serial ? `unit ${view.serial}` : (view.hint_serial ? `bench unit: ${view.hint_serial}` : ""));
  const due = $(".due", node);
  due.textContent = view.due.map((d) => `${d.overdue ? "PAST DUE" : "due soon"}: ${d.instrument} ${d.cal_due}`).join("; ");
  due.className = `due${view.locked ? " locked" : ""}`;
  const start = $(".start", node);
  start.disabled = !page.operator || !view.scanned || view.busy || view.status === "prompt";
  start.textContent = view.locked ? "Start (override)" : "Start";
  $(".stop", node).disabled = !(view.busy || (view.status === "prompt" && !view.run_id && !view.verdict));
  const current = view.plan.indexOf(view.phase);
  node.querySelectorAll(".phases li").forEach((li) => {
    const at = view.plan.indexOf(li.dataset.phase);
    li.className = at < 0 ? (view.plan.length ? "skipped" : "") : at < current || (view.verdict === "PASS" && at <= current) ? "done" : at === current ? "current" : "";
  });
  $(".points", node).textContent = view.total ? `${view.phase}: ${view.done} / ${view.total} points` : (view.phase || "");
  $(".elapsed", node).textContent = elapsed(view);
  const verdict = $(".verdict", node);
  verdict.textContent = view.verdict;
  verdict.className = `verdict ${view.verdict.toLowerCase()}`;
  $(".failing", node).textContent = view.failing ? `failing requirement: ${view.failing}` : "";
  $(".reason", node).textContent = view.verdict ? `${view.reason}${view.safe ? ` (${view.safe})` : ""}` : "";
  const link = $(".report", node);
  if (view.report_url) { link.href = view.report_url; link.textContent = `report of run ${view.run_id}`; }
  else { link.removeAttribute("href"); link.textContent = ""; }
  const prompt = $(".prompt", node);
  prompt.hidden = !view.prompt;
  if (view.prompt) {
    $(".prompt-text", node).textContent = view.prompt.text;
    const img = $(".prompt-image", node);
    img.hidden = !view.prompt.image_url;
    if (view.prompt.image_url) img.src = view.prompt.image_url;
    if (!prompt.contains(document.activeElement)) $(".confirm", node).focus();
  }
  $(".message", node).textContent = view.message || "";
  drawSlotTrace(slot);
}

function drawSlotTrace(slot) {
  const view = page.slots[slot];
  const canvas = $(".trace", panel(slot));
  const drawn = drawTrace(canvas, view.trace_t_s, view.trace_ma, view.trace_label);
  canvas.dataset.samples = drawn ? view.trace_t_s.length : 0;
}

function applySnapshot(snap) {
  page.virtual = snap.virtual;
  page.operator = snap.operator;
  $("#station-name").textContent = snap.station;
  $("#bench-badge").hidden = !snap.virtual;
  $("#auto-badge").hidden = !snap.auto_confirm;
  showOperator();
  snap.slots.forEach((view) => { page.slots[view.slot] = view; render(view.slot); });
}

function showOperator() {
  $("#signed-in").textContent = page.operator ? `signed in: ${page.operator}` : "not signed in";
  document.body.dataset.operator = page.operator;
  Object.keys(page.slots).forEach(render);
}

function connect() {
  const source = new EventSource("/events");
  const conn = $("#connection");
  source.onopen = () => { conn.textContent = "live"; conn.className = "conn live"; };
  source.onerror = () => { conn.textContent = "reconnecting…"; conn.className = "conn lost"; };
  source.addEventListener("snapshot", (ev) => applySnapshot(JSON.parse(ev.data)));
  SLOT_EVENTS.forEach((type) => source.addEventListener(type, (ev) => {
    const event = JSON.parse(ev.data);
    page.slots[event.slot] = event.state;
    render(event.slot);
  }));
  source.addEventListener("trace", (ev) => {
    const event = JSON.parse(ev.data);
    const view = page.slots[event.slot];
    if (!view) return;
    if (event.label !== view.trace_label) { view.trace_label = event.label; view.trace_t_s = []; view.trace_ma = []; }
    view.trace_t_s = view.trace_t_s.concat(event.t_s).slice(-400);
    view.trace_ma = view.trace_ma.concat(event.current_ma).slice(-400);
    drawSlotTrace(event.slot);
  });
  source.addEventListener("operator", (ev) => { page.operator = JSON.parse(ev.data).operator; showOperator(); });
}

async function showHistory() {
  const serial = $("#history-serial").value.trim();
  const response = await fetch(`/api/history?serial=${encodeURIComponent(serial)}`, { credentials: "same-origin" });
  const data = await response.json();
  const unit = Boolean(serial);
  const cols = ["run", "started (UTC)", "slot", "serial", "operator", "status", "verdict"].concat(unit ? ["as found", "as left"] : [], ["report", "message"]);
  $("#history-table thead").innerHTML = `<tr>${cols.map((c) => `<th>${c}</th>`).join("")}</tr>`;
  const body = $("#history-table tbody");
  body.textContent = "";
  data.runs.forEach((run) => {
    const tr = document.createElement("tr");
    const cells = [run.run_id, run.started_at, run.slot, run.serial, run.operator, run.status, run.verdict];
    if (unit) [run.as_found, run.as_left].forEach((p) => cells.push(`${p.points} pts, ${p.not_pass} not pass`));
    cells.forEach((value) => { const td = document.createElement("td"); td.textContent = value; tr.appendChild(td); });
    const rep = document.createElement("td");
    if (run.report_url) { const a = document.createElement("a"); a.href = run.report_url; a.target = "_blank"; a.textContent = "report"; rep.appendChild(a); }
    tr.appendChild(rep);
    const msg = document.createElement("td"); msg.textContent = run.message; tr.appendChild(msg);
    body.appendChild(tr);
  });
}

document.addEventListener("DOMContentLoaded", () => {
  $("#signin").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try { await post("/api/signin", { operator: $("#operator").value }); $("#operator").value = ""; }
    catch (err) { $("#signed-in").textContent = err.message; }
  });
  $("#history-button").addEventListener("click", () => { $("#history-dialog").showModal(); showHistory(); });
  $("#history-form").addEventListener("submit", (ev) => { ev.preventDefault(); showHistory(); });
  $("#history-close").addEventListener("click", () => $("#history-dialog").close());
  setInterval(() => Object.keys(page.slots).forEach((slot) => {
    const view = page.slots[slot];
    if (view.busy) $(".elapsed", panel(slot)).textContent = elapsed(view);
  }), 1000);
  connect();
});
