// Nova dashboard: reads the server's sample stream and draws it. Everything
// the page shows comes from the stream (stream) and the dead-letter
// endpoints (api/dead-letters); actions send the page's token.
(function () {
  "use strict";
  const meta = (n) => document.querySelector('meta[name="' + n + '"]').content;
  const token = meta("nova-token");
  const actions = meta("nova-actions") === "on";
  const canRedrive = meta("nova-redrive") === "on";
  const intervalMS = +meta("nova-interval") || 1000;
  const keep = +meta("nova-history") || 300;
  const $ = (id) => document.getElementById(id);

  const rateKeys = ["emitted", "published", "processed", "failed", "retried", "dead_lettered"];
  const rateColors = ["#2456c8", "#7b3fb5", "#1b7f3b", "#b42318", "#9a6200", "#333"];
  const depthKeys = ["emitter", "bus", "pool"];
  const depthColors = ["#2456c8", "#7b3fb5", "#9a6200"];
  const rates = [[]].concat(rateKeys.map(() => []));
  const depth = [[]].concat(depthKeys.map(() => []));
  let ratePlot = null, depthPlot = null;
  let lastDeadLetters = null;

  $("interval").textContent = (intervalMS / 1000) + " s";

  function fmt(n) {
    if (n === undefined || n === null) return "–";
    if (n >= 1e6) return (n / 1e6).toFixed(1) + "M";
    if (n >= 1e4) return (n / 1e3).toFixed(1) + "k";
    if (Number.isInteger(n)) return String(n);
    return n.toFixed(n < 10 ? 1 : 0);
  }

  function ms(v) { return v < 1 ? (v * 1000).toFixed(0) + " µs" : v.toFixed(v < 10 ? 1 : 0) + " ms"; }

  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  }

  function stateClass(s) {
    switch (s) {
      case "healthy": case "closed": return "state-ok";
      case "half-open": case "degraded": case "connecting": case "reconnecting": return "state-warn";
      default: return "state-bad";
    }
  }

  function badge(text) { return el("span", text, "badge " + stateClass(text)); }

  function width(div) { return Math.max(200, div.clientWidth); }

  function makePlot(div, keys, colors, data) {
    const series = [{}].concat(keys.map((k, i) => ({ label: k.replace("_", "-"), stroke: colors[i], width: 2, points: { show: false } })));
    return new uPlot({
      width: width(div), height: 220,
      scales: { x: { time: true }, y: { range: (u, lo, hi) => [0, Math.max(1, hi * 1.1)] } },
      axes: [{}, { size: 50 }],
      legend: { live: false },
      series: series,
    }, data, div);
  }

  function push(s) {
    const t = s.t / 1000;
    rates[0].push(t);
    rateKeys.forEach((k, i) => rates[i + 1].push(s.rates[k] || 0));
    depth[0].push(t);
    depthKeys.forEach((k, i) => depth[i + 1].push(s.depth[k] || 0));
    for (const arr of [rates, depth]) {
      if (arr[0].length > keep) arr.forEach((a) => a.shift());
    }
  }

  function drawCharts() {
    if (!ratePlot) {
      ratePlot = makePlot($("chart-rates"), rateKeys, rateColors, rates);
      depthPlot = makePlot($("chart-depth"), depthKeys, depthColors, depth);
    } else {
      ratePlot.setData(rates);
      depthPlot.setData(depth);
    }
    $("chart-rates").dataset.points = rates[0].length;
  }

  window.addEventListener("resize", () => {
    if (ratePlot) ratePlot.setSize({ width: width($("chart-rates")), height: 220 });
    if (depthPlot) depthPlot.setSize({ width: width($("chart-depth")), height: 220 });
  });

  function facts(dl, pairs) {
    dl.replaceChildren();
    for (const [k, v] of pairs) {
      dl.append(el("dt", k));
      const dd = el("dd");
      if (v instanceof Node) dd.append(v); else dd.textContent = v;
      dl.append(dd);
    }
  }

  function render(s) {
    for (const k of rateKeys) {
      $("k-" + k).textContent = fmt(s.rates[k]);
      $("t-" + k).textContent = "total " + fmt(s.totals[k]);
    }
    $("k-avg").textContent = s.avg_processing_ms ? s.avg_processing_ms.toFixed(2) + " ms" : "–";
    $("viewers").textContent = s.viewers;
    $("dropped").textContent = s.samples_dropped;
    if (s.health) {
      const h = $("health");
      h.hidden = false;
      h.className = "badge " + stateClass(s.health);
      h.textContent = "listeners " + s.health;
    }

    const lb = document.querySelector("#listeners tbody");
    lb.replaceChildren();
    for (const l of s.listeners || []) {
      const tr = el("tr");
      tr.dataset.listener = l.id;
      tr.append(el("td", l.id));
      const hs = el("td"); hs.append(badge(l.status)); tr.append(hs);
      const cs = el("td"); const b = badge(l.circuit); b.dataset.circuit = l.circuit; cs.append(b); tr.append(cs);
      tr.append(el("td", fmt(l.rate)), el("td", fmt(l.attempts)), el("td", fmt(l.failures)),
        el("td", fmt(l.retries)), el("td", fmt(l.dead_lettered)), el("td", fmt(l.in_flight)),
        el("td", l.p50_ms ? ms(l.p50_ms) + " · " + ms(l.p95_ms) + " · " + ms(l.p99_ms) : "–"),
        el("td", l.last_error || "", "err"));
      lb.append(tr);
    }
    if (!(s.listeners || []).length) {
      const tr = el("tr"); const td = el("td", "no listener manager, or no registered listener", "muted");
      td.colSpan = 11; tr.append(td); lb.append(tr);
    }
    const ch = $("changes");
    if ((s.circuit_changes || []).length) {
      ch.replaceChildren();
      for (const c of s.circuit_changes.slice().reverse()) {
        const li = el("li");
        li.append(el("span", new Date(c.t).toLocaleTimeString() + " " + c.listener + ": " + c.from + " → "), badge(c.to));
        ch.append(li);
      }
    }

    const topics = s.topics || [];
    $("topics-card").hidden = topics.length === 0;
    const tb = document.querySelector("#topics tbody");
    tb.replaceChildren();
    for (const t of topics) {
      const tr = el("tr");
      tr.append(el("td", t.name), el("td", t.mode), el("td", fmt(t.consumers)), el("td", t.partitions.join(" · ")),
        el("td", fmt(t.lag)), el("td", fmt(t.published)), el("td", fmt(t.processed)), el("td", fmt(t.failed)),
        el("td", fmt(t.dead_lettered)));
      tb.append(tr);
    }

    if (s.pool) {
      const p = s.pool;
      $("pool-card").hidden = false;
      facts($("pool"), [
        ["utilisation", Math.round(p.utilization * 100) + "% (" + p.running + " of " + p.max + " running)"],
        ["worker busy", Math.round(p.worker_busy * 100) + "% of the last interval"],
        ["workers", p.workers + " alive, " + p.idle + " idle"],
        ["queued", p.queued + " of " + p.queue_size],
        ["completed", fmt(p.completed)],
        ["rejected · evicted · panicked", fmt(p.rejected) + " · " + fmt(p.evicted) + " · " + fmt(p.panicked)],
      ]);
      const lanes = document.querySelector("#lanes tbody");
      lanes.replaceChildren();
      for (const l of p.lanes) {
        const tr = el("tr");
        tr.append(el("td", l.name), el("td", fmt(l.queued)), el("td", fmt(l.rejected)), el("td", fmt(l.evicted)));
        lanes.append(tr);
      }
    }
    if (s.amqp) {
      const a = s.amqp;
      $("amqp-card").hidden = false;
      const conn = el("span", a.state, "badge " + (a.state === "connected" ? "state-ok" : a.state === "closed" ? "state-bad" : "state-warn"));
      const pairs = [["connection", conn], ["connections", a.connections + " of " + a.max_connections], ["reconnects", fmt(a.reconnects)]];
      if (a.has_publisher) {
        pairs.push(["confirms in flight", fmt(a.in_flight)], ["confirmed", fmt(a.confirmed)],
          ["confirm latency", "p50 " + a.confirm_p50_ms.toFixed(1) + " ms · p99 " + a.confirm_p99_ms.toFixed(1) + " ms"]);
      }
      facts($("amqp"), pairs);
    }
    if (s.store) {
      $("store-card").hidden = false;
      facts($("store"), [["streams", fmt(s.store.streams)], ["events kept", fmt(s.store.events)],
        ["appended", fmt(s.store.appended)], ["trimmed", fmt(s.store.trimmed)]]);
    }
    if (s.dead_letters !== lastDeadLetters) {
      lastDeadLetters = s.dead_letters;
      loadDeadLetters();
    }
  }

  // Dead letters.
  function currentQuery() { return $("dl-q").value.trim(); }

  async function loadDeadLetters() {
    const q = currentQuery();
    const r = await fetch("api/dead-letters?q=" + encodeURIComponent(q), { cache: "no-store" });
    if (!r.ok) { $("dl-msg").textContent = "could not list dead letters: " + r.status; return; }
    const res = await r.json();
    $("dl-count").textContent = "(" + res.total + (q ? " matching" : "") + (res.shown < res.total ? ", newest " + res.shown + " shown" : "") + ")";
    const tb = document.querySelector("#deadletters tbody");
    tb.replaceChildren();
    for (const d of res.items.slice().reverse()) {
      const tr = el("tr");
      tr.dataset.id = d.id;
      tr.title = d.data ? "data: " + d.data : "";
      tr.append(el("td", new Date(d.at).toLocaleTimeString()), el("td", d.listener), el("td", d.event_id),
        el("td", d.event_type), el("td", fmt(d.attempts)), el("td", d.error, "err"));
      if (actions) {
        const td = el("td");
        if (canRedrive) {
          const b = el("button", "Redrive", "action redrive");
          b.type = "button";
          b.addEventListener("click", () => act("redrive", { ids: [d.id] }, b));
          td.append(b);
        }
        const x = el("button", "Discard", "action danger discard");
        x.type = "button";
        x.addEventListener("click", () => act("discard", { ids: [d.id] }, x));
        td.append(x);
        tr.append(td);
      }
      tb.append(tr);
    }
    if (!res.items.length) {
      const tr = el("tr"); const td = el("td", q ? "nothing matches" : "no dead letters", "muted");
      td.colSpan = actions ? 7 : 6; tr.append(td); tb.append(tr);
    }
  }

  async function act(what, body, button) {
    if (button) button.disabled = true;
    try {
      const r = await fetch("api/dead-letters/" + what, {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-Nova-Token": token },
        body: JSON.stringify(body),
        credentials: "same-origin",
      });
      const res = await r.json();
      $("dl-msg").textContent = r.ok
        ? what + ": " + res.done + " done" + (res.skipped ? ", " + res.skipped + " already gone" : "")
        : what + " failed: " + (res.error || (res.errors || []).join("; "));
    } catch (e) {
      $("dl-msg").textContent = what + " failed: " + e;
    }
    await loadDeadLetters();
    if (button) button.disabled = false;
  }

  $("dl-search").addEventListener("submit", (ev) => { ev.preventDefault(); loadDeadLetters(); });
  if (actions) {
    const all = (what) => () => {
      const q = currentQuery();
      if (!confirm(what + " every dead letter" + (q ? ' matching "' + q + '"' : "") + "?")) return;
      act(what, { all: true, query: { q: q } });
    };
    if ($("dl-redrive-all")) $("dl-redrive-all").addEventListener("click", all("redrive"));
    $("dl-discard-all").addEventListener("click", all("discard"));
  }

  // The stream.
  function connect() {
    const es = new EventSource("stream");
    const conn = $("conn");
    es.addEventListener("open", () => { conn.className = "badge state-ok"; conn.textContent = "live"; });
    es.addEventListener("error", () => { conn.className = "badge state-bad"; conn.textContent = "disconnected, retrying"; });
    es.addEventListener("history", (ev) => {
      for (const a of [rates, depth]) a.forEach((x) => (x.length = 0));
      const list = JSON.parse(ev.data);
      list.forEach(push);
      if (list.length) render(list[list.length - 1]);
      drawCharts();
    });
    es.addEventListener("sample", (ev) => {
      const s = JSON.parse(ev.data);
      push(s);
      render(s);
      drawCharts();
    });
  }
  loadDeadLetters();
  connect();
})();
