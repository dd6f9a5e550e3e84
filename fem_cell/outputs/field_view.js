// The film-field viewer of fem_cell.outputs.field_view (plain ES2017, canvas 2-D, no
// network).  Pixels are filled by rasterising each triangle with barycentric
// interpolation, so the value under the pointer is the finite-element interpolant's.
// __ID__ is replaced by the view's element id.
(function () {
  "use strict";
  const root = document.getElementById("__ID__");
  const q = (r) => root.querySelector('[data-role="' + r + '"]');
  const D = JSON.parse(q("data").textContent);
  const cv = q("canvas"), ctx = cv.getContext("2d");
  const M = {l: 150, r: 130, t: 52, b: 46};
  const VIR = [[68,1,84],[72,40,120],[62,74,137],[49,104,142],[38,130,142],[31,158,137],
               [53,183,121],[109,205,89],[180,222,44],[253,231,37]];
  const X = D.x, Y = D.y, T = D.triangles, L = D.layers, n = L.length;
  const xmin = Math.min(...X), xmax = Math.max(...X);
  const ymin = L[0].y0, ymax = L[n - 1].y1;
  const st = {t: 0, f: Object.keys(D.fields)[0], mode: "layers", x0: xmin, x1: xmax};
  let buf = null;
  function layerOf(y) {
    for (let i = 0; i < n; i++) if (y <= L[i].y1 + 1e-9 * (ymax - ymin)) return i;
    return n - 1;
  }
  function v01(y) {          // height -> 0..1 (bottom..top of the films)
    if (st.mode === "true") return (y - ymin) / (ymax - ymin);
    const i = layerOf(y), a = L[i];
    return (i + (y - a.y0) / Math.max(a.y1 - a.y0, 1e-30)) / n;
  }
  function height(u) {       // 0..1 -> height (inverse of v01)
    if (st.mode === "true") return ymin + u * (ymax - ymin);
    const s = Math.min(Math.max(u * n, 0), n - 1e-9), i = Math.floor(s), a = L[i];
    return a.y0 + (s - i) * (a.y1 - a.y0);
  }
  function colour(s) {
    const k = Math.min(Math.max(s, 0), 1) * (VIR.length - 1), i = Math.min(Math.floor(k), VIR.length - 2), w = k - i;
    return [0, 1, 2].map((c) => Math.round(VIR[i][c] * (1 - w) + VIR[i + 1][c] * w));
  }
  function fmt(v) {
    const a = Math.abs(v);
    return (a !== 0 && (a < 1e-3 || a >= 1e5)) ? v.toExponential(3) : +v.toPrecision(4) + "";
  }
  function ticks(a, b, m) {
    const raw = (b - a) / m, p = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 5, 10].map((k) => k * p).find((s) => s >= raw);
    const out = [];
    for (let v = Math.ceil(a / step) * step; v <= b + 1e-9 * step; v += step) out.push(+v.toPrecision(12));
    return out;
  }
  function draw() {
    const W = cv.width - M.l - M.r, H = cv.height - M.t - M.b;
    const F = D.fields[st.f], vals = F.series[st.t];
    const lo = F.min, span = (F.max - F.min) || 1;
    const img = ctx.createImageData(W, H);
    buf = new Float32Array(W * H).fill(NaN);
    const sx = X.map((x) => (x - st.x0) / (st.x1 - st.x0) * W);
    const sy = Y.map((y) => (1 - v01(y)) * H);
    for (let k = 0; k < T.length; k += 3) {
      const a = T[k], b = T[k + 1], c = T[k + 2];
      const ax = sx[a], ay = sy[a], bx = sx[b], by = sy[b], cx = sx[c], cy = sy[c];
      const det = (by - cy) * (ax - cx) + (cx - bx) * (ay - cy);
      if (Math.abs(det) < 1e-12) continue;
      const x0 = Math.max(0, Math.floor(Math.min(ax, bx, cx))), x1 = Math.min(W - 1, Math.ceil(Math.max(ax, bx, cx)));
      const y0 = Math.max(0, Math.floor(Math.min(ay, by, cy))), y1 = Math.min(H - 1, Math.ceil(Math.max(ay, by, cy)));
      for (let py = y0; py <= y1; py++) {
        for (let px = x0; px <= x1; px++) {
          const X0 = px + 0.5, Y0 = py + 0.5;
          const l1 = ((by - cy) * (X0 - cx) + (cx - bx) * (Y0 - cy)) / det;
          const l2 = ((cy - ay) * (X0 - cx) + (ax - cx) * (Y0 - cy)) / det;
          const l3 = 1 - l1 - l2;
          if (l1 < -1e-6 || l2 < -1e-6 || l3 < -1e-6) continue;
          const v = l1 * vals[a] + l2 * vals[b] + l3 * vals[c];
          const i = py * W + px, rgb = colour((v - lo) / span);
          buf[i] = v;
          img.data[4 * i] = rgb[0]; img.data[4 * i + 1] = rgb[1]; img.data[4 * i + 2] = rgb[2];
          img.data[4 * i + 3] = 255;
        }
      }
    }
    ctx.clearRect(0, 0, cv.width, cv.height);
    ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, cv.width, cv.height);
    ctx.putImageData(img, M.l, M.t);
    ctx.strokeStyle = "#fff"; ctx.setLineDash([5, 4]); ctx.lineWidth = 1;
    ctx.fillStyle = "#000"; ctx.font = "12px sans-serif"; ctx.textAlign = "right";
    for (let i = 0; i < n; i++) {
      const yb = M.t + (1 - v01(L[i].y0)) * H, yt = M.t + (1 - v01(L[i].y1)) * H;
      if (i > 0) { ctx.beginPath(); ctx.moveTo(M.l, yb); ctx.lineTo(M.l + W, yb); ctx.stroke(); }
      const th = L[i].thickness_um, tt = th < 1 ? (th * 1000).toPrecision(3) + " nm" : th.toPrecision(3) + " µm";
      ctx.fillText(L[i].name + " (" + tt + ")", M.l - 8, (yb + yt) / 2 + 4);
    }
    ctx.setLineDash([]); ctx.strokeStyle = "#000"; ctx.strokeRect(M.l, M.t, W, H);
    ctx.textAlign = "center";
    for (const v of ticks(st.x0, st.x1, 8)) {
      const px = M.l + (v - st.x0) / (st.x1 - st.x0) * W;
      ctx.beginPath(); ctx.moveTo(px, M.t + H); ctx.lineTo(px, M.t + H + 5); ctx.stroke();
      ctx.fillText(fmt(v), px, M.t + H + 18);
    }
    ctx.fillText("lateral position x [µm]", M.l + W / 2, M.t + H + 38);
    if (D.pad) {
      const p0 = Math.max(D.pad.x0, st.x0), p1 = Math.min(D.pad.x1, st.x1);
      if (p1 > p0) {
        const a = M.l + (p0 - st.x0) / (st.x1 - st.x0) * W, b = M.l + (p1 - st.x0) / (st.x1 - st.x0) * W;
        ctx.fillStyle = "#999"; ctx.fillRect(a, M.t - 10, b - a, 8);
        ctx.fillStyle = "#000"; ctx.fillText(D.pad.name + " pad", (a + b) / 2, M.t - 14);
      }
    }
    const cbx = M.l + W + 30, cbw = 16;
    for (let py = 0; py < H; py++) {
      const rgb = colour(1 - py / H);
      ctx.fillStyle = "rgb(" + rgb.join(",") + ")"; ctx.fillRect(cbx, M.t + py, cbw, 1);
    }
    ctx.strokeRect(cbx, M.t, cbw, H);
    ctx.fillStyle = "#000"; ctx.textAlign = "left";
    for (const v of ticks(F.min, F.max || F.min + 1, 5)) {
      if (v < F.min - 1e-12 || v > F.max + 1e-12) continue;
      ctx.fillText(fmt(v), cbx + cbw + 4, M.t + (1 - (v - lo) / span) * H + 4);
    }
    ctx.save(); ctx.translate(cbx + cbw + 66, M.t + H / 2); ctx.rotate(-Math.PI / 2);
    ctx.textAlign = "center"; ctx.fillText("[" + F.unit + "]", 0, 0); ctx.restore();
    const t = D.times_s[st.t];
    const when = st.t === 0 ? "before the anneal (exposed)" : (st.t === D.times_s.length - 1 ? "after the anneal" : "during the anneal");
    q("tlabel").textContent = "t = " + fmt(t / 60) + " min, " + when;
    ctx.textAlign = "left";
    ctx.fillText(F.label + ", t = " + fmt(t / 60) + " min" + (st.mode === "layers" ? ", every layer drawn the same height" : ", true thickness (stretched " + fmt((st.x1 - st.x0) / (ymax - ymin) * H / W) + "×)"), M.l, 14);
    root.dataset.drawn = String(+(root.dataset.drawn || 0) + 1);
  }
  function setT(i) { st.t = i; q("time").value = i; draw(); }
  q("time").addEventListener("input", (e) => setT(+e.target.value));
  q("before").addEventListener("click", () => setT(0));
  q("after").addEventListener("click", () => setT(D.times_s.length - 1));
  q("field").addEventListener("change", (e) => { st.f = e.target.value; draw(); });
  root.querySelectorAll('input[type="radio"]').forEach((r) => r.addEventListener("change", (e) => { st.mode = e.target.value; draw(); }));
  function xAt(px) { const W = cv.width - M.l - M.r; return st.x0 + (px - M.l) / W * (st.x1 - st.x0); }
  function canvasXY(e) { const r = cv.getBoundingClientRect(); return [(e.clientX - r.left) * cv.width / r.width, (e.clientY - r.top) * cv.height / r.height]; }
  cv.addEventListener("wheel", (e) => {
    e.preventDefault();
    const [px] = canvasXY(e), xc = xAt(px), s = e.deltaY > 0 ? 1.25 : 0.8;
    st.x0 = Math.max(xmin, xc - (xc - st.x0) * s); st.x1 = Math.min(xmax, xc + (st.x1 - xc) * s);
    if (st.x1 - st.x0 < (xmax - xmin) * 1e-4) { st.x1 = st.x0 + (xmax - xmin) * 1e-4; }
    draw();
  }, {passive: false});
  let drag = null;
  cv.addEventListener("mousedown", (e) => { drag = [canvasXY(e)[0], st.x0, st.x1]; });
  window.addEventListener("mouseup", () => { drag = null; });
  cv.addEventListener("dblclick", () => { st.x0 = xmin; st.x1 = xmax; draw(); });
  cv.addEventListener("mousemove", (e) => {
    const [px, py] = canvasXY(e), W = cv.width - M.l - M.r, H = cv.height - M.t - M.b;
    if (drag) {
      const d = (px - drag[0]) / W * (drag[2] - drag[1]);
      const w = drag[2] - drag[1], x0 = Math.min(Math.max(drag[1] - d, xmin), xmax - w);
      st.x0 = x0; st.x1 = x0 + w; draw(); return;
    }
    const i = Math.floor(px - M.l), j = Math.floor(py - M.t);
    if (i < 0 || j < 0 || i >= W || j >= H || !buf || isNaN(buf[j * W + i])) { q("readout").textContent = "\u00a0"; return; }
    const y = height(1 - (j + 0.5) / H), F = D.fields[st.f];
    q("readout").textContent = "x = " + fmt(xAt(px)) + " µm, height above the film bottom = " + fmt((y - ymin) * 1000) + " nm (" + L[layerOf(y)].name + "): " + F.label + " = " + fmt(buf[j * W + i]) + " " + F.unit;
  });
  draw();
})();
