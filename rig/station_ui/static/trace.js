// A tiny plot of the live cut-off current (mA against s) on a <canvas>: no library, no network.
"use strict";
function drawTrace(canvas, tS, currentMa, label) {
  if (canvas.clientWidth && canvas.width !== canvas.clientWidth) canvas.width = canvas.clientWidth;
  const ctx = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height, pad = 14;
  ctx.clearRect(0, 0, w, h);
  ctx.fillStyle = "#fafbfc";
  ctx.fillRect(0, 0, w, h);
  if (!tS || tS.length < 2) {
    ctx.fillStyle = "#8c959f"; ctx.font = "11px sans-serif";
    ctx.fillText("cut-off current trace: none yet", pad, 11);
    return false;
  }
  const t0 = Math.min(...tS), t1 = Math.max(...tS);
  const lo = Math.min(0, ...currentMa), hi = Math.max(...currentMa, 0.001);
  const x = (t) => pad + (w - 2 * pad) * (t - t0) / ((t1 - t0) || 1);
  const y = (v) => h - pad - (h - 2 * pad) * (v - lo) / ((hi - lo) || 1);
  ctx.strokeStyle = "#ccd"; ctx.lineWidth = 1;
  ctx.beginPath(); ctx.moveTo(pad, y(0)); ctx.lineTo(w - pad, y(0)); ctx.stroke();
  ctx.strokeStyle = "#1f6feb"; ctx.lineWidth = 2;
  ctx.beginPath();
  tS.forEach((t, i) => { if (i === 0) ctx.moveTo(x(t), y(currentMa[i])); else ctx.lineTo(x(t), y(currentMa[i])); });
  ctx.stroke();
  ctx.fillStyle = "#333"; ctx.font = "11px sans-serif";
  ctx.fillText(`${label || "trace"}  max ${hi.toFixed(2)} mA  ${(t1 - t0).toFixed(2)} s`, pad, 11);
  return true;
}
