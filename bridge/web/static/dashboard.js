// Short polling of /dashboard/state; the DOM is built with textContent only, so journal data is never HTML.
"use strict";
const POLL_MS = 1000;

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  return node;
}

function renderSignal(s) {
  const box = el("div", null, "signal");
  box.dataset.id = s.id;
  const head = el("div");
  head.append(el("span", s.state, "badge " + s.state), " ",
              el("strong", `${s.action}${s.sentiment ? " " + s.sentiment : ""} ${s.ticker}`),
              el("span", `  ${s.strategy} · ${s.received_at}${s.price != null ? " · @" + s.price : ""}`, "muted"));
  box.append(head);
  if (s.executions.length > 1) {
    // One line per subscription: the signal's own decision waits for the last one, and would hide a failure meanwhile.
    for (const e of s.executions) {
      const line = el("div", null, "decision");
      line.append(el("span", e.state, "badge " + e.state), ` ${e.subscription} (${e.broker}): ${e.decision || "waiting…"}`);
      box.append(line);
    }
  } else {
    box.append(el("div", s.decision || "waiting…", "decision"));
  }
  for (const o of s.orders) {
    const at = o.avg_fill_price != null ? " @ " + o.avg_fill_price : "";
    const outcome = o.status === "filled" ? `filled${at}` : o.filled_quantity ? `${o.status}, ${o.filled_quantity} filled${at}` : o.status;
    const line = el("div", `${o.leg}: ${o.side} ${o.quantity} ${o.symbol} ${o.type} → ${outcome} (${o.broker})`, "order");
    if (o.error) line.append(el("span", ` — ${o.error}`, "err"));
    box.append(line);
  }
  return box;
}

function renderPositions(rows) {
  if (!rows.length) return el("p", "No open positions.", "muted");
  const table = el("table");
  const head = el("tr");
  for (const h of ["broker", "symbol", "qty", "avg", "last", "P&L"]) head.append(el("th", h));
  table.append(head);
  for (const p of rows) {
    const tr = el("tr");
    if (p.symbol === null) { tr.append(el("td", p.broker), el("td", p.error, "err")); table.append(tr); continue; }
    for (const v of [p.broker, p.symbol, p.quantity, p.avg_price, p.last, p.pnl]) tr.append(el("td", v == null ? "–" : v));
    table.append(tr);
  }
  return table;
}

function renderConfig(c) {
  const box = el("div");
  box.append(el("div", `${c.file} · ${c.sha256} · loaded ${c.loaded_at}`));
  const r = c.last_reload;
  const line = el("div", null, "muted");
  line.append(el("span", r.ok ? "last reload ok" : "last reload FAILED", "badge " + (r.ok ? "ok" : "error")),
              ` ${r.at} (${r.trigger || "start"})`);
  box.append(line);
  if (!r.ok && r.error) box.append(el("div", r.error, "err"));
  for (const warning of r.warnings || []) box.append(el("div", warning, "err"));
  return box;
}

async function poll() {
  try {
    const response = await fetch("/dashboard/state", {credentials: "same-origin", cache: "no-store"});
    if (response.status === 401) { location.reload(); return; }
    const state = await response.json();
    const trading = document.getElementById("trading");
    trading.textContent = state.halted ? "HALTED" : "trading";
    trading.className = "badge " + (state.halted ? "halted" : "ok");
    document.getElementById("halt").hidden = state.halted;
    document.getElementById("resume").hidden = !state.halted;
    const timeline = document.getElementById("timeline");
    timeline.replaceChildren(...(state.signals.length ? state.signals.map(renderSignal) : [el("p", "No signals yet.", "muted")]));
    document.getElementById("positions").replaceChildren(renderPositions(state.positions));
    document.getElementById("config").replaceChildren(renderConfig(state.config));
    document.getElementById("updated").textContent = "· updated " + new Date().toLocaleTimeString();
  } catch (err) {
    document.getElementById("updated").textContent = "· cannot reach the bridge, retrying";
  } finally {
    setTimeout(poll, POLL_MS);
  }
}

for (const button of document.querySelectorAll("button.copy")) {
  button.addEventListener("click", async () => {
    const response = await fetch(`/dashboard/url/${encodeURIComponent(button.dataset.strategy)}`, {credentials: "same-origin"});
    // Signed out meanwhile (401), or the strategy was removed by a reload (404): show the page as it is now, rather
    // than copy a URL ending in "undefined" that would fail every alert pasted with it.
    if (!response.ok) { location.reload(); return; }
    // server.public_url when set (the page may be open on a loopback admin_port no sender reaches), else the browser's
    // own origin: behind a tunnel that ends TLS the bridge sees http://, the sender must use https://.
    const given = await response.json();
    const url = given.public ? given.url : location.origin + given.path;
    try { await navigator.clipboard.writeText(url); button.textContent = "Copied"; }
    catch (err) { window.prompt("Copy the webhook URL:", url); }
    setTimeout(() => { button.textContent = "Copy URL"; }, 1500);
  });
}
document.getElementById("halt-form").addEventListener("submit", (event) => {
  if (!window.confirm("Halt trading? No new order is sent until you resume.")) event.preventDefault();
});
poll();
