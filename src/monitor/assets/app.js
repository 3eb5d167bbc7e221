// zonesync monitor dashboard: vanilla JS, no framework, nothing loaded
// from anywhere but this server (the page must work with no internet, and
// the server's Content-Security-Policy allows nothing else).
//
// Data: the status arrives over Server-Sent Events (/api/stream); when the
// stream fails (old browser, proxy, the server's stream cap) the page polls
// /status every 5 s and tries the stream again now and then. History and
// events are fetched again whenever the status changes.
//
// Every value from the server is put into the page as text (textContent,
// setAttribute), never as markup, so a zone or server name cannot inject
// anything.
//
// Hooks for tests and scripts: #zones, #events, section[data-zone],
// tr[data-server][data-status], body[data-updated-ms] (set at each render
// of a status) and body[data-mode] ("live", "polling" or "offline").
"use strict";

(function () {
  const POLL_MS = 5000;
  const STREAM_RETRY_MS = 60000;
  const TICK_MS = 1000;
  const HISTORY_MIN_INTERVAL_MS = 5000;
  const EVENT_LIMIT = 100;
  const SVG_NS = "http://www.w3.org/2000/svg";
  const COLOURS = 10;

  const state = {
    status: null,
    statusKey: "",
    events: null,
    histories: new Map(), // zone -> {view, fetchedAt, key, range}
    historyBusy: new Set(),
    historyAgain: new Set(),
    eventsBusy: false,
    eventsAgain: false,
    sections: new Map(), // zone -> its <section>
    source: null,
    live: false,
    pollTimer: null,
    retryTimer: null,
    rangeMs: 3600000,
  };

  // ---------------------------------------------------------------------
  // Small DOM helpers

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    setAttrs(node, attrs);
    append(node, children);
    return node;
  }

  function svgEl(tag, attrs, children) {
    const node = document.createElementNS(SVG_NS, tag);
    setAttrs(node, attrs);
    append(node, children);
    return node;
  }

  function setAttrs(node, attrs) {
    if (!attrs) return;
    for (const [key, value] of Object.entries(attrs)) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "text") node.textContent = String(value);
      else node.setAttribute(key, String(value));
    }
  }

  function append(node, children) {
    if (children === null || children === undefined) return;
    if (!Array.isArray(children)) children = [children];
    for (const child of children) {
      if (child === null || child === undefined || child === false) continue;
      node.appendChild(typeof child === "object" ? child : document.createTextNode(String(child)));
    }
  }

  // ---------------------------------------------------------------------
  // Formatting

  function plural(n, word) {
    return n + " " + word + (n === 1 ? "" : "s");
  }

  /** A duration in milliseconds as "850 ms", "4.2 s", "3 min 4 s", "2 h 5 min", "3 d 4 h". */
  function duration(ms) {
    if (ms === null || ms === undefined || !isFinite(ms)) return "–";
    const a = Math.abs(ms);
    if (a < 1000) return Math.round(a) + " ms";
    const s = a / 1000;
    if (s < 10) return s.toFixed(1) + " s";
    if (s < 60) return Math.floor(s) + " s";
    const m = Math.floor(s / 60);
    if (m < 60) return m + " min " + Math.floor(s % 60) + " s";
    const h = Math.floor(m / 60);
    if (h < 24) return h + " h " + (m % 60) + " min";
    return Math.floor(h / 24) + " d " + (h % 24) + " h";
  }

  /** "12 s ago", "in 3 s", "just now". */
  function relative(ms, now) {
    const d = now - ms;
    if (Math.abs(d) < 1000) return "just now";
    return d > 0 ? duration(d) + " ago" : "in " + duration(-d);
  }

  function clock(ms, seconds) {
    const opts = { hour: "2-digit", minute: "2-digit" };
    if (seconds) opts.second = "2-digit";
    return new Date(ms).toLocaleTimeString([], opts);
  }

  /** A <time> that the ticker keeps saying "N s ago" in. */
  function timeAgo(ms) {
    if (ms === null || ms === undefined) return "–";
    const date = new Date(ms);
    return el("time", {
      datetime: date.toISOString(),
      title: date.toLocaleString(),
      "data-ms": ms,
      text: relative(ms, Date.now()),
    });
  }

  function tick() {
    const now = Date.now();
    for (const t of document.querySelectorAll("time[data-ms]")) {
      const text = relative(Number(t.getAttribute("data-ms")), now);
      if (t.textContent !== text) t.textContent = text;
    }
  }

  function badge(kind, text) {
    return el("span", { class: "badge st-" + kind, text: text || kind });
  }

  function colourOf(index) {
    return "c" + (index % COLOURS);
  }

  function zoneId(zone) {
    return "zone-" + zone.replace(/[^A-Za-z0-9_-]/g, "_");
  }

  // ---------------------------------------------------------------------
  // Rendering

  function showError(message) {
    const box = document.getElementById("error");
    if (!box) return;
    if (message) {
      box.textContent = message;
      box.hidden = false;
    } else {
      box.textContent = "";
      box.hidden = true;
    }
  }

  function setMode(mode, text) {
    document.body.setAttribute("data-mode", mode);
    const node = document.getElementById("connection");
    if (node && node.textContent !== text) node.textContent = text;
  }

  function renderStatus() {
    const status = state.status;
    if (!status) return;
    document.getElementById("version").textContent = status.version;
    const updated = timeAgo(status.generated_ms);
    if (typeof updated === "object") {
      updated.id = "updated";
      document.getElementById("updated").replaceWith(updated);
    }

    const overview = document.getElementById("overview");
    overview.replaceChildren();
    const zones = document.getElementById("zones");
    const sections = new Map();
    const fresh = [];
    for (const zone of status.zones) {
      overview.appendChild(
        el("li", null, el("a", { href: "#" + zoneId(zone.zone) }, [badge(zone.state), zone.zone]))
      );
      const section = renderZone(zone);
      sections.set(zone.zone, section);
      fresh.push(section);
    }
    if (status.zones.length === 0) {
      fresh.push(el("p", { class: "muted", text: "No zones are monitored." }));
    }
    zones.replaceChildren(...fresh);
    state.sections = sections;

    const bad = status.zones.filter((z) => z.state !== "ok").length;
    document.title = (bad ? "(" + bad + ") " : "") + "zonesync monitor";
    document.body.setAttribute("data-updated-ms", String(Date.now()));
  }

  function renderZone(zone) {
    const servers = zone.servers.slice();
    const colours = new Map();
    servers.forEach((s, i) => colours.set(s.server, colourOf(i)));

    const facts = [];
    facts.push(
      "reference serial " + (zone.reference_serial === null ? "unknown" : zone.reference_serial)
    );
    const counts = {};
    for (const s of servers) counts[s.status] = (counts[s.status] || 0) + 1;
    const summary = Object.keys(counts)
      .sort()
      .map((k) => counts[k] + " " + k)
      .join(", ");

    const section = el(
      "section",
      {
        class: "zone",
        id: zoneId(zone.zone),
        "data-zone": zone.zone,
        "data-state": zone.state,
        "aria-labelledby": zoneId(zone.zone) + "-title",
      },
      [
        el("h2", { id: zoneId(zone.zone) + "-title" }, [
          el("span", { class: "mono", text: zone.zone }),
          badge(zone.state),
        ]),
        el("p", { class: "facts" }, [
          facts.join(" · "),
          " · " + servers.length + (servers.length === 1 ? " server address" : " server addresses") +
            (summary ? " (" + summary + ")" : ""),
          " · checked ",
          timeAgo(zone.last_check_ms),
        ]),
        zone.problems.length
          ? el(
              "ul",
              { class: "problems", "aria-label": "Problems" },
              zone.problems.map((p) => el("li", { text: p }))
            )
          : null,
        renderServers(zone, colours),
        renderChange(zone, colours),
        el("div", { class: "chart-box" }, renderChart(zone, colours)),
      ]
    );
    return section;
  }

  function renderServers(zone, colours) {
    const head = [
      "Nameserver",
      "Address",
      "Serial",
      "Lag",
      "Status",
      "RTT",
      "Behind since",
      "Catch-up (last change)",
      "EXPIRE left",
      "Detail",
      "Why",
    ];
    const rows = zone.servers.map((s) =>
      el(
        "tr",
        {
          "data-server": s.server,
          "data-status": s.status,
          "data-diagnosis": s.diagnosis ? s.diagnosis.code : null,
        },
        [
          el("th", { scope: "row" }, [
            el("span", { class: "swatch " + colours.get(s.server), "aria-hidden": "true" }),
            " ",
            el("span", { class: "mono", text: s.ns }),
          ]),
          el("td", { class: "mono", text: s.addr }),
          el("td", { class: "num mono", text: s.serial === null ? "–" : s.serial }),
          el("td", {
            class: "num",
            text: s.lag === null ? "–" : s.lag > 0 ? "−" + s.lag : s.lag < 0 ? "+" + -s.lag : "0",
            title:
              s.lag === null ? null : s.lag > 0 ? s.lag + " behind" : s.lag < 0 ? -s.lag + " ahead" : "in sync",
          }),
          el("td", null, badge(s.status)),
          el("td", { class: "num", text: s.rtt_ms === null ? "–" : s.rtt_ms.toFixed(1) + " ms" }),
          el("td", null, timeAgo(s.behind_since_ms)),
          el("td", { class: "num", text: duration(s.catch_up_ms) }),
          el("td", {
            class: "num",
            text: s.expire_left === null ? "–" : duration(s.expire_left * 1000),
            title: s.expire_left === null ? null : s.expire_left + " s",
          }),
          el("td", { class: "detail", text: s.detail || "" }),
          renderWhy(s.diagnosis),
        ]
      )
    );
    return el(
      "div",
      { class: "table-wrap" },
      el("table", { class: "grid servers" }, [
        el("caption", { text: "Servers of " + zone.zone + " (every address of every nameserver)" }),
        el("thead", null, el("tr", null, head.map((h) => el("th", { scope: "col", text: h })))),
        el("tbody", null, rows),
      ])
    );
  }

  // The replication doctor's word on the row: the code as a badge, and
  // the message saying what to check.
  function renderWhy(diagnosis) {
    if (!diagnosis) return el("td", { class: "why" });
    return el("td", { class: "why", title: "since " + new Date(diagnosis.since_ms).toISOString() }, [
      badge("diagnosis", diagnosis.code),
      " ",
      el("span", { class: "detail", text: diagnosis.message }),
    ]);
  }

  function renderChange(zone, colours) {
    const change = zone.last_change;
    if (!change) {
      return el("p", { class: "muted change", text: "No serial change seen yet." });
    }
    const now = Date.now();
    const servers = zone.servers.map((s) => s.server);
    for (const name of Object.keys(change.caught_up)) {
      if (!servers.includes(name)) servers.push(name);
    }
    const delays = servers
      .map((name) => change.caught_up[name])
      .filter((t) => t !== undefined)
      .map((t) => Math.max(0, t - change.started_ms));
    const pending = servers.length - delays.length;
    const scale = Math.max(1, ...delays);
    const origin = change.origin === "published" ? "published here" : "first seen";
    const rows = servers.map((name) => {
      const at = change.caught_up[name];
      const delay = at === undefined ? null : Math.max(0, at - change.started_ms);
      return el("tr", { "data-server": name }, [
        el("th", { scope: "row" }, [
          el("span", { class: "swatch " + (colours.get(name) || "c8"), "aria-hidden": "true" }),
          " ",
          el("span", { class: "mono", text: name }),
        ]),
        el("td", {
          class: "num",
          text: delay === null ? "not yet (" + duration(now - change.started_ms) + " so far)" : duration(delay),
        }),
        el(
          "td",
          null,
          delay === null
            ? "waiting"
            : el("meter", {
                min: 0,
                max: scale,
                value: delay,
                "aria-label": "caught up after " + duration(delay),
              })
        ),
      ]);
    });
    return el("div", { class: "change" }, [
      el("h3", { text: "Last change: serial " + change.serial }),
      el("p", null, [
        origin + " ",
        timeAgo(change.started_ms),
        " (" + new Date(change.started_ms).toLocaleString() + ")",
        change.complete_ms === null
          ? " · propagating: " + plural(pending, "server") + " still behind"
          : " · everywhere after " + duration(change.complete_ms - change.started_ms),
      ]),
      el(
        "div",
        { class: "table-wrap" },
        el("table", { class: "grid propagation" }, [
          el("caption", { text: "How long after the change each server served it" }),
          el(
            "thead",
            null,
            el("tr", null, [
              el("th", { scope: "col", text: "Server" }),
              el("th", { scope: "col", text: "Caught up after" }),
              el("th", { scope: "col", text: "Compared with the slowest" }),
            ])
          ),
          el("tbody", null, rows),
        ])
      ),
    ]);
  }

  /** Serial of each server over time: one step line per server. */
  function renderChart(zone, colours) {
    const cached = state.histories.get(zone.zone);
    const title = "Serials of " + zone.zone + " (at most the last " + duration(state.rangeMs) + ")";
    if (!cached) return el("p", { class: "muted", text: title + ": loading…" });
    const points = cached.view.points;
    if (points.length === 0) return el("p", { class: "muted", text: title + ": no history yet." });

    // Group by server, oldest first.
    const byServer = new Map();
    for (const s of zone.servers) byServer.set(s.server, []);
    for (const p of points) {
      if (!byServer.has(p.server)) byServer.set(p.server, []);
      byServer.get(p.server).push(p);
    }
    for (const list of byServer.values()) list.sort((a, b) => a.time_ms - b.time_ms);

    // Serials as RFC 1982 offsets from a reference, so a wrap past 2^32
    // draws as a step up, not a plunge.
    let ref = zone.reference_serial;
    if (ref === null) {
      const seen = points.filter((p) => p.serial !== null);
      ref = seen.length ? seen[seen.length - 1].serial : 0;
    }
    const offset = (serial) => (serial - ref) | 0;
    const label = (d) => String((ref + d) >>> 0);

    // The time axis covers the data (within the chosen range) up to now;
    // plain loops, as spreading a long history into Math.min overflows
    // the argument limit.
    const now = Date.now();
    let first = Infinity;
    let lastTime = -Infinity;
    let lo = Infinity;
    let hi = -Infinity;
    for (const p of points) {
      if (p.time_ms < first) first = p.time_ms;
      if (p.time_ms > lastTime) lastTime = p.time_ms;
      if (p.serial !== null) {
        const d = offset(p.serial);
        if (d < lo) lo = d;
        if (d > hi) hi = d;
      }
    }
    const x1 = Math.max(now, lastTime);
    const x0 = Math.min(Math.max(now - state.rangeMs, first), x1 - 60000);
    if (lo === Infinity) {
      lo = -1;
      hi = 1;
    }
    if (lo === hi) {
      lo -= 1;
      hi += 1;
    }

    const W = 900;
    const H = 260;
    const M = { left: 96, right: 16, top: 14, bottom: 40 };
    const pw = W - M.left - M.right;
    const ph = H - M.top - M.bottom;
    const sx = (t) => M.left + ((t - x0) / Math.max(1, x1 - x0)) * pw;
    // A margin above and below, so no line runs along the axis or frame.
    const pad = (hi - lo) * 0.12;
    const sy = (d) => M.top + ph - ((d - lo + pad) / (hi - lo + 2 * pad)) * ph;

    const titleId = zoneId(zone.zone) + "-chart-title";
    const descId = zoneId(zone.zone) + "-chart-desc";
    const svg = svgEl("svg", {
      class: "chart",
      viewBox: "0 0 " + W + " " + H,
      role: "img",
      "aria-labelledby": titleId + " " + descId,
      preserveAspectRatio: "xMidYMid meet",
    });
    svg.appendChild(svgEl("title", { id: titleId, text: title }));
    svg.appendChild(
      svgEl("desc", {
        id: descId,
        text:
          "Step lines, one per server; the vertical axis is the SOA serial, the horizontal axis the time. " +
          "Gaps are times a server gave no serial.",
      })
    );

    // Y ticks: every serial when there are few, else five.
    const span = hi - lo;
    const step = span <= 6 ? 1 : Math.ceil(span / 5);
    for (let d = lo, n = 0; d <= hi && n < 12; d += step, n++) {
      const y = sy(d);
      svg.appendChild(svgEl("line", { class: "gridline", x1: M.left, x2: W - M.right, y1: y, y2: y }));
      svg.appendChild(
        svgEl("text", { x: M.left - 6, y: y + 4, "text-anchor": "end", text: label(d) })
      );
    }
    // X ticks: five clock times.
    const withSeconds = x1 - x0 <= 20 * 60 * 1000;
    for (let i = 0; i <= 4; i++) {
      const t = x0 + ((x1 - x0) * i) / 4;
      const x = sx(t);
      svg.appendChild(svgEl("line", { class: "axis", x1: x, x2: x, y1: M.top + ph, y2: M.top + ph + 4 }));
      svg.appendChild(
        svgEl("text", {
          x: x,
          y: M.top + ph + 16,
          "text-anchor": i === 0 ? "start" : i === 4 ? "end" : "middle",
          text: clock(t, withSeconds),
        })
      );
    }
    svg.appendChild(svgEl("line", { class: "axis", x1: M.left, x2: M.left, y1: M.top, y2: M.top + ph }));
    svg.appendChild(
      svgEl("line", { class: "axis", x1: M.left, x2: W - M.right, y1: M.top + ph, y2: M.top + ph })
    );
    svg.appendChild(
      svgEl("text", { x: M.left + pw / 2, y: H - 4, "text-anchor": "middle", text: "time" })
    );
    svg.appendChild(
      svgEl("text", {
        x: 12,
        y: M.top + ph / 2,
        "text-anchor": "middle",
        transform: "rotate(-90 12 " + (M.top + ph / 2) + ")",
        text: "serial",
      })
    );

    // One step line per server; lines of servers on the same serial are
    // nudged apart by a pixel or two so that none hides another.
    const names = Array.from(byServer.keys());
    const legend = [];
    names.forEach((name, i) => {
      const colour = colours.get(name) || colourOf(i);
      const nudge = (i - (names.length - 1) / 2) * 2.5;
      let d = "";
      let open = false;
      const list = byServer.get(name);
      for (let j = 0; j < list.length; j++) {
        const p = list[j];
        const x = sx(p.time_ms);
        if (p.serial === null) {
          if (open) d += "H" + x.toFixed(1);
          open = false;
          svg.appendChild(
            svgEl("circle", { class: colour, cx: x, cy: M.top + ph - 3, r: 2.5 }, [
              svgEl("title", { text: name + ": " + p.status + " at " + clock(p.time_ms, true) }),
            ])
          );
          continue;
        }
        const y = sy(offset(p.serial)) + nudge;
        if (!open) {
          d += "M" + x.toFixed(1) + " " + y.toFixed(1);
          open = true;
        } else {
          d += "H" + x.toFixed(1) + "V" + y.toFixed(1);
        }
      }
      // Samples are stored when something changes (and every 5 min): the
      // last value holds until now.
      if (open) d += "H" + sx(x1).toFixed(1);
      if (d) {
        svg.appendChild(
          svgEl("path", { class: "line " + colour, d: d, "data-server": name }, [
            svgEl("title", { text: name }),
          ])
        );
      }
      legend.push(
        el("li", null, [
          el("span", { class: "swatch " + colour, "aria-hidden": "true" }),
          el("span", { class: "mono", text: name }),
        ])
      );
    });

    return [
      el("h3", { text: title }),
      svg,
      el("ul", { class: "legend", "aria-label": "Legend" }, legend),
    ];
  }

  function renderEvents() {
    const table = document.getElementById("events");
    if (!table || state.events === null) return;
    const events = state.events.slice().sort((a, b) => b.time_ms - a.time_ms);
    const rows = events.map((e) =>
      el("tr", { "data-kind": e.kind, "data-zone": e.zone }, [
        el("td", null, timeAgo(e.time_ms)),
        el("td", { class: "mono", text: e.zone }),
        el("td", null, badge(e.kind, e.kind.replace(/-/g, " "))),
        el("td", { class: "mono", text: e.server || "" }),
        el("td", { text: e.detail }),
      ])
    );
    if (rows.length === 0) rows.push(el("tr", null, el("td", { colspan: 5, text: "No events yet." })));
    table.tBodies[0].replaceChildren(...rows);
  }

  function rerenderChart(zone) {
    const section = state.sections.get(zone);
    const current = state.status && state.status.zones.find((z) => z.zone === zone);
    if (!section || !current) return;
    const box = section.querySelector(".chart-box");
    if (!box) return;
    const colours = new Map();
    current.servers.forEach((s, i) => colours.set(s.server, colourOf(i)));
    const chart = renderChart(current, colours);
    box.replaceChildren(...(Array.isArray(chart) ? chart : [chart]));
  }

  function guarded(what, fn) {
    try {
      fn();
    } catch (e) {
      console.error(what, e);
      showError(what + " failed: " + (e && e.message ? e.message : e));
    }
  }

  // ---------------------------------------------------------------------
  // Data

  async function getJSON(url) {
    const response = await fetch(url, { cache: "no-store", headers: { Accept: "application/json" } });
    if (!response.ok) {
      let message = "HTTP " + response.status;
      try {
        const body = await response.json();
        if (body && body.error) message += ": " + body.error;
      } catch (_) {
        // The body was not our JSON error: the status says enough.
      }
      throw new Error(url + ": " + message);
    }
    return response.json();
  }

  /** The status without its generation time: what "changed" compares. */
  function keyOf(status) {
    return JSON.stringify(Object.assign({}, status, { generated_ms: 0 }));
  }

  function onStatus(status) {
    const key = keyOf(status);
    const changed = key !== state.statusKey;
    state.status = status;
    state.statusKey = key;
    guarded("showing the status", renderStatus);
    showError(null);
    if (changed) refreshDetails();
  }

  function refreshDetails() {
    fetchEvents();
    if (!state.status) return;
    for (const zone of state.status.zones) fetchHistory(zone, false);
  }

  async function fetchEvents() {
    if (state.eventsBusy) {
      state.eventsAgain = true;
      return;
    }
    state.eventsBusy = true;
    try {
      state.events = await getJSON("/api/events?limit=" + EVENT_LIMIT);
      guarded("showing the events", renderEvents);
    } catch (e) {
      console.warn(e);
    } finally {
      state.eventsBusy = false;
      if (state.eventsAgain) {
        state.eventsAgain = false;
        fetchEvents();
      }
    }
  }

  /** What makes a zone's chart out of date at once (rather than after HISTORY_MIN_INTERVAL_MS). */
  function historyKey(zone) {
    return JSON.stringify(zone.servers.map((s) => [s.server, s.serial, s.status]));
  }

  async function fetchHistory(zone, force) {
    const name = zone.zone;
    const cached = state.histories.get(name);
    const key = historyKey(zone);
    if (
      !force &&
      cached &&
      cached.range === state.rangeMs &&
      cached.key === key &&
      Date.now() - cached.fetchedAt < HISTORY_MIN_INTERVAL_MS
    ) {
      return;
    }
    if (state.historyBusy.has(name)) {
      state.historyAgain.add(name);
      return;
    }
    state.historyBusy.add(name);
    const range = state.rangeMs;
    try {
      const since = Date.now() - range;
      const view = await getJSON(
        "/api/history?zone=" + encodeURIComponent(name) + "&since_ms=" + Math.max(0, Math.floor(since))
      );
      state.histories.set(name, { view: view, fetchedAt: Date.now(), key: key, range: range });
      guarded("drawing the chart", () => rerenderChart(name));
    } catch (e) {
      console.warn(e);
    } finally {
      state.historyBusy.delete(name);
      if (state.historyAgain.delete(name)) {
        const current = state.status && state.status.zones.find((z) => z.zone === name);
        if (current) fetchHistory(current, true);
      }
    }
  }

  async function pollOnce() {
    try {
      onStatus(await getJSON("/status"));
      if (!state.live) setMode("polling", "polling every " + POLL_MS / 1000 + " s (no live stream)");
    } catch (e) {
      setMode("offline", "cannot reach the monitor; retrying every " + POLL_MS / 1000 + " s");
      console.warn(e);
    }
  }

  function startPolling() {
    if (state.pollTimer !== null) return;
    pollOnce();
    state.pollTimer = setInterval(pollOnce, POLL_MS);
  }

  function stopPolling() {
    if (state.pollTimer === null) return;
    clearInterval(state.pollTimer);
    state.pollTimer = null;
  }

  function startStream() {
    state.retryTimer = null;
    if (typeof EventSource === "undefined") {
      startPolling();
      return;
    }
    const source = new EventSource("/api/stream");
    state.source = source;
    source.addEventListener("status", (event) => {
      let status;
      try {
        status = JSON.parse(event.data);
      } catch (e) {
        showError("bad status from the stream: " + e.message);
        return;
      }
      state.live = true;
      stopPolling();
      setMode("live", "live");
      onStatus(status);
    });
    source.addEventListener("error", () => {
      // Poll while the stream is down. A stream that ended or dropped is
      // reconnected by the browser itself (readyState CONNECTING); one the
      // server refused (e.g. 503 at its stream cap) is CLOSED, and gets
      // another chance later.
      state.live = false;
      startPolling();
      if (source.readyState === EventSource.CLOSED) {
        if (state.source === source) state.source = null;
        if (state.retryTimer === null) state.retryTimer = setTimeout(startStream, STREAM_RETRY_MS);
      }
    });
  }

  function init() {
    setMode("connecting", "connecting…");
    const range = document.getElementById("range");
    if (range) {
      state.rangeMs = Number(range.value) || state.rangeMs;
      range.addEventListener("change", () => {
        state.rangeMs = Number(range.value) || 3600000;
        if (state.status) for (const zone of state.status.zones) fetchHistory(zone, true);
      });
    }
    setInterval(tick, TICK_MS);
    startStream();
    // The stream's first event comes at once; if it does not, do not leave
    // the page empty.
    setTimeout(() => {
      if (!state.status) startPolling();
    }, 3000);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
