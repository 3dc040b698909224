// shoal ui: the page. Plain JavaScript, no dependencies.
//
// Every piece of data from the API enters the page as text (text nodes, textContent,
// attribute values set with setAttribute): never as HTML. The server's content security
// policy forbids inline script as a second guard.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
let listing = null;

// el("td", {class: "num"}, "text", childNode): strings become text nodes.
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  return fill(node, attrs, children);
}

function svg(tag, attrs, ...children) {
  return fill(document.createElementNS(SVG, tag), attrs, children);
}

function fill(node, attrs, children) {
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    node.append(typeof c === "string" || typeof c === "number" ? document.createTextNode(String(c)) : c);
  }
  return node;
}

function show(...nodes) {
  document.getElementById("main").replaceChildren(...nodes);
}

function bytes(n) {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let v = n, u = 0;
  while (v >= 1000 && u < units.length - 1) { v /= 1000; u++; }
  return u === 0 ? `${n} B` : `${v.toFixed(1)} ${units[u]}`;
}

function json(value) {
  return el("pre", {}, JSON.stringify(value, null, 2));
}

function keyPath(key) {
  return key.map((k) => encodeURIComponent(String(k))).join("/");
}

async function api(path) {
  const res = await fetch(path, { headers: { accept: "application/json" } });
  const body = await res.json().catch(() => ({ error: `HTTP ${res.status}` }));
  if (!res.ok) throw new Error(body.error || `HTTP ${res.status}`);
  return body;
}

function failure(e) {
  return el("p", { class: "error", id: "error" }, String(e.message || e));
}

// ---- timing ---------------------------------------------------------------------------
// Figures the browser test reads from the DOM (#timing's data-* attributes), in ms.

function timing(name, ms) {
  document.getElementById("timing").setAttribute(`data-${name}`, ms.toFixed(1));
}

function watchPaint() {
  const fcp = (entries) => entries.filter((e) => e.name === "first-contentful-paint").forEach((e) => timing("fcp", e.startTime));
  fcp(performance.getEntriesByType("paint"));
  if (typeof PerformanceObserver === "undefined") return;
  new PerformanceObserver((list) => fcp(list.getEntries())).observe({ type: "paint", buffered: true });
}

// ---- header and live updates -------------------------------------------------------
// The server follows the store and pushes each new listing (/api/events, server-sent
// events); the page never polls. EventSource reconnects by itself when the server restarts.

function renderStatus() {
  const status = document.getElementById("status");
  document.getElementById("store").textContent = listing.store;
  document.body.setAttribute("data-announced", String(listing.announced ?? ""));
  const nodes = [document.createTextNode(`announced: ${listing.announced ?? "none"}`)];
  if (listing.pinned !== null && listing.pinned !== undefined) {
    nodes.push(document.createTextNode(" "), el("span", { class: "pin" }, `PINNED to ${listing.pinned}`));
  }
  status.replaceChildren(...nodes);
}

function update(fresh) {
  const changed = !listing || JSON.stringify(fresh) !== JSON.stringify(listing);
  listing = fresh;
  renderStatus();
  if (changed && route().name === "timeline") render();
}

function unreachable(message) {
  document.getElementById("status").textContent = `store unreachable: ${message}`;
}

async function load() {
  try {
    update(await api("/api/versions"));
  } catch (e) {
    unreachable(e.message);
  }
}

function follow() {
  const events = new EventSource("/api/events");
  events.addEventListener("versions", (e) => update(JSON.parse(e.data)));
  events.addEventListener("unreachable", (e) => unreachable(JSON.parse(e.data).error));
  events.addEventListener("error", () => unreachable("lost shoal ui; reconnecting…"));
}

// ---- routes -------------------------------------------------------------------------

function route() {
  const parts = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  const [head, ...rest] = parts;
  if (head === "v" && rest.length >= 3 && rest[1] === "t" && rest[3] === "k")
    return { name: "record", v: rest[0], type: rest[2], key: rest.slice(4) };
  if (head === "v" && rest.length >= 5 && rest[1] === "t" && rest[3] === "o")
    return { name: "record", v: rest[0], type: rest[2], ordinal: rest[4] };
  if (head === "v" && rest.length >= 3 && rest[1] === "t")
    return { name: "records", v: rest[0], type: rest[2], offset: Number(rest[3] || 0), filter: rest[4] === "f" ? { field: rest[5] || "", value: rest[6] || "" } : null };
  if (head === "v" && rest.length >= 1) return { name: "version", v: rest[0] };
  if (head === "h" && rest.length >= 2) return { name: "history", type: rest[0], key: rest.slice(1) };
  if (head === "diff" && rest.length >= 2)
    return { name: "diff", from: rest[0], to: rest[1], offset: Number(rest[2] || 0) };
  if (head === "diff") return { name: "diffForm" };
  if (head === "lookup") return { name: "lookup" };
  return { name: "timeline" };
}

async function render() {
  const r = route();
  try {
    const views = { timeline, version, records, record, history, diff, diffForm, lookup };
    await views[r.name](r);
    document.body.setAttribute("data-view", r.name);
  } catch (e) {
    show(failure(e));
    document.body.setAttribute("data-view", "error");
  }
}

// ---- versions timeline ----------------------------------------------------------------

function timeline() {
  if (!listing) return;
  const rows = [...listing.versions].reverse();
  if (rows.length === 0) return show(el("h2", {}, "Versions"), el("p", {}, "No versions yet: publish one with shoal produce."));
  show(
    el("h2", {}, "Versions"),
    legend(),
    timelineChart(rows),
    el("h3", {}, "Records and changes per version"),
    el("div", { id: "counts" }, el("p", { class: "muted" }, "Counting…")),
    versionTable(listing.versions),
  );
  return counts();
}

// Records per type and changes per version: the server counts them in the background, so
// this asks again while some are pending or failed and the timeline is still shown.
async function counts() {
  const t = await api("/api/timeline");
  const box = document.getElementById("counts");
  if (!box) return;
  box.replaceChildren(countsLegend(t.versions), countsChart(t.versions));
  box.setAttribute("data-pending", String(t.pending));
  // Pending steps are asked for again each second; failed ones are retried by the server
  // (at most every 5 s) when asked, so ask again after that.
  const failed = t.versions.some((v) => v.error);
  const again = t.pending ? 1000 : failed ? 5000 : 0;
  if (again) setTimeout(() => { if (route().name === "timeline") counts().catch(() => {}); }, again);
}

const TYPE_CLASSES = 6;
const CHANGES = [["added_count", "added"], ["removed_count", "removed"], ["changed_count", "changed"]];

function countsLegend(versions) {
  const names = versions.find((v) => v.records.length)?.records.map((r) => r.name) || [];
  const item = (cls, text) => el("span", {}, el("i", { class: cls }), text);
  return el("p", { class: "legend" },
    names.map((n, t) => item(`type-${t % TYPE_CLASSES}`, `${n} records`)),
    CHANGES.map(([, what]) => item(`chg-${what}`, what)));
}

function countsChart(versions) {
  const sum = (xs, f) => xs.reduce((a, x) => a + f(x), 0);
  const changes = (c) => sum(CHANGES, ([k]) => c[k]);
  const scale = {
    h: 100, bw: 28, gap: 8,
    records: Math.max(1, ...versions.map((v) => sum(v.records, (r) => r.records))),
    changes: Math.max(1, ...versions.map((v) => sum(v.changes, changes))),
  };
  const chart = svg("svg", { id: "counts-chart", role: "img", width: versions.length * (scale.bw + scale.gap) + 20, height: 2 * scale.h + 50 });
  versions.forEach((v, i) => chart.append(countsColumn(v, 10 + i * (scale.bw + scale.gap), scale)));
  return chart;
}

// One version: its records stacked by type above, its changes since the previous version
// stacked by kind below.
function countsColumn(v, x, s) {
  const column = svg("a", { href: `#/v/${v.version}`, class: v.pending ? "pending" : "" }, svg("title", {}, countsTitle(v)));
  let y = s.h;
  v.records.forEach((r, t) => {
    const h = (r.records / s.records) * s.h;
    y -= h;
    column.append(svg("rect", { class: `bar type-${t % TYPE_CLASSES}`, x, y, width: s.bw, height: h }));
  });
  y = 2 * s.h + 20;
  CHANGES.forEach(([k, what]) => {
    const h = (v.changes.reduce((a, c) => a + c[k], 0) / s.changes) * s.h;
    y -= h;
    column.append(svg("rect", { class: `bar chg-${what}`, x, y, width: s.bw, height: h }));
  });
  const label = v.pending ? "…" : v.error ? "!" : String(v.version);
  column.append(svg("text", { x: x + s.bw / 2, y: 2 * s.h + 36, "text-anchor": "middle" }, label));
  return column;
}

function countsTitle(v) {
  if (v.pending) return `version ${v.version}: counting…`;
  if (v.error) return `version ${v.version}: ${v.error}`;
  const records = v.records.map((r) => `${r.name} ${r.records}`).join(", ");
  if (v.from === null) return `version ${v.version}: ${records}`;
  const changes = v.changes.map((c) => `${c.name} +${c.added_count} −${c.removed_count} ~${c.changed_count}`).join(", ");
  return `version ${v.version}: ${records}; since ${v.from}: ${changes}`;
}

function legend() {
  const item = (cls, text) => el("span", {}, el("i", { class: cls }), text);
  return el("p", { class: "legend" },
    item("snap", "snapshot bytes"), item("delta", "delta bytes in"),
    item("announced", "announced"), item("pinned", "pinned"), item("unreachable", "not reachable"));
}

function timelineChart(rows) {
  const h = 180, bw = Math.max(8, Math.min(40, Math.floor(900 / rows.length) - 4)), gap = 4;
  const size = (r) => (r.snapshot_bytes || 0) + r.deltas_in.reduce((a, [, b]) => a + b, 0);
  const max = Math.max(1, ...rows.map(size));
  const chart = svg("svg", { width: rows.length * (bw + gap) + 20, height: h + 40, id: "timeline", role: "img" });
  rows.forEach((r, i) => {
    const x = 10 + i * (bw + gap);
    const snap = ((r.snapshot_bytes || 0) / max) * h;
    const delta = (r.deltas_in.reduce((a, [, b]) => a + b, 0) / max) * h;
    const cls = !r.reachable ? "unreachable" : r.pinned ? "pinned" : r.announced ? "announced" : "";
    const link = svg("a", { href: `#/v/${r.version}` },
      svg("title", {}, `version ${r.version}: snapshot ${bytes(r.snapshot_bytes || 0)}, deltas in ${bytes(delta / h * max)}${r.announced ? " (announced)" : ""}${r.pinned ? " (pinned)" : ""}`),
      svg("rect", { class: `bar ${cls}`, x, y: h - snap, width: bw, height: Math.max(snap, 1) }),
      svg("rect", { class: "bar delta", x, y: h - snap - delta, width: bw, height: delta }),
      svg("text", { x: x + bw / 2, y: h + 14, "text-anchor": "middle" }, String(r.version)),
      r.announced || r.pinned ? svg("text", { x: x + bw / 2, y: h + 28, "text-anchor": "middle" }, r.pinned ? "pin" : "ann") : null,
    );
    chart.append(link);
  });
  return chart;
}

function versionTable(rows) {
  const pairs = (list, into, me) => list.map(([o, b]) => (into ? `${o}→${me}` : `${me}→${o}`) + ` ${bytes(b)}`).join(", ");
  return el("table", { id: "versions" },
    el("tr", {}, el("th", {}, "version"), el("th", {}, "reachable"), el("th", { class: "num" }, "snapshot"),
      el("th", {}, "deltas in"), el("th", {}, "reverse out"), el("th", {}, "written"), el("th", {}, "")),
    rows.map((r) => el("tr", {},
      el("td", {}, el("a", { href: `#/v/${r.version}` }, String(r.version))),
      el("td", {}, r.reachable ? "yes" : "NO"),
      el("td", { class: "num" }, r.snapshot_bytes == null ? "-" : bytes(r.snapshot_bytes)),
      el("td", {}, pairs(r.deltas_in, true, r.version)),
      el("td", {}, pairs(r.reverse_out, false, r.version)),
      el("td", {}, r.written || "-"),
      el("td", {}, [r.announced ? "announced " : "", r.pinned ? "PINNED" : ""].join("")),
    )));
}

// ---- one version ----------------------------------------------------------------------

async function version(r) {
  const rep = await api(`/api/versions/${encodeURIComponent(r.v)}`);
  const max = Math.max(1, ...rep.types.map((t) => t.bytes));
  show(
    el("h2", {}, `Version ${rep.version}`),
    el("p", {}, `${bytes(rep.bytes)} in column pages. `, el("a", { href: "#/lookup" }, "Look up a record")),
    el("h3", {}, "Bytes per type"),
    bars(rep.types.map((t) => [t.name, t.bytes, `${t.records} records`]), max, "types"),
    ...rep.types.map((t) => typeSection(rep.version, t)),
  );
}

function bars(items, max, id) {
  const rowH = 20, labelW = 170, w = 520;
  const chart = svg("svg", { width: labelW + w + 200, height: items.length * rowH + 4, id });
  items.forEach(([label, value, note], i) => {
    const y = i * rowH;
    chart.append(
      svg("text", { x: 0, y: y + 14 }, label),
      svg("rect", { class: "bar", x: labelW, y: y + 3, width: Math.max(1, (value / max) * w), height: rowH - 6 }),
      svg("text", { x: labelW + Math.max(1, (value / max) * w) + 6, y: y + 14 }, `${bytes(value)}${note ? ", " + note : ""}`),
    );
  });
  return chart;
}

function typeSection(v, t) {
  const what = t.kind + (t.holds ? ` of ${t.holds}` : "") + (t.key ? `, key ${t.key.join(", ")}` : "");
  const max = Math.max(1, ...t.fields.map((f) => f.bytes));
  return el("section", {},
    el("h3", {}, el("a", { href: `#/v/${v}/t/${encodeURIComponent(t.name)}` }, t.name), ` (${what})`),
    el("p", { class: "muted" }, `${t.records} records, ordinal space ${t.ordinal_space}, ${bytes(t.bytes)}`),
    bars(t.fields.map((f) => [f.name, f.bytes, `${f.kind}, ${f.pages} pages, bits ${bits(f)}`]), max, null),
  );
}

function bits(f) {
  if (f.bits_min == null) return "var";
  return f.bits_min === f.bits_max ? String(f.bits_min) : `${f.bits_min}-${f.bits_max}`;
}

// ---- records ----------------------------------------------------------------------------

async function records(r) {
  const limit = 50;
  const f = r.filter && r.filter.field ? `&field=${encodeURIComponent(r.filter.field)}&value=${encodeURIComponent(r.filter.value)}` : "";
  const page = await api(`/api/versions/${encodeURIComponent(r.v)}/types/${encodeURIComponent(r.type)}/records?offset=${r.offset}&limit=${limit}${f}`);
  const base = `#/v/${page.version}/t/${encodeURIComponent(page.type)}`;
  const at = (offset) => `${base}/${offset}${filterPath(page.filter)}`;
  const pager = el("div", { class: "pager" },
    r.offset > 0 ? el("a", { href: at(Math.max(0, r.offset - limit)) }, "← previous") : null,
    el("span", {}, `${page.total ? page.offset + 1 : 0}–${page.offset + page.records.length} of ${page.total}`),
    page.offset + page.records.length < page.total ? el("a", { href: at(r.offset + limit) }, "next →") : null,
  );
  show(
    el("h2", {}, `${page.type} in version ${page.version}`),
    filterForm(base, page.filter),
    pager,
    el("table", { id: "records" }, page.records.map((row) => el("tr", {},
      el("td", {}, page.key_fields.length ? recordLink(page.version, page.type, row.key) : ordinalLink(page.version, page.type, row.ordinal)),
      el("td", {}, json(row.record))))),
  );
}

function filterPath(filter) {
  return filter ? `/f/${encodeURIComponent(filter.field)}/${encodeURIComponent(filter.value)}` : "";
}

// Only the records whose field (a path such as year or country.code) holds a value.
function filterForm(base, filter) {
  const field = el("input", { name: "field", placeholder: "year or country.code" });
  const value = el("input", { name: "value", placeholder: "1999" });
  field.value = filter ? filter.field : "";
  value.value = filter ? filter.value : "";
  const form = el("form", { id: "filter" },
    el("label", {}, "field", field), el("label", {}, "equals", value),
    el("button", { type: "submit" }, "Filter"),
    filter ? el("a", { href: `${base}/0` }, "clear") : null);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const wanted = field.value.trim() ? { field: field.value.trim(), value: value.value } : null;
    location.hash = `${base}/0${filterPath(wanted)}`;
  });
  return form;
}

function recordLink(v, type, key) {
  return el("a", { href: `#/v/${v}/t/${encodeURIComponent(type)}/k/${keyPath(key)}` }, key.map(String).join(", "));
}

// A record of a type without a key, by its ordinal in one version.
function ordinalLink(v, type, ordinal) {
  return el("a", { href: `#/v/${v}/t/${encodeURIComponent(type)}/o/${ordinal}` }, `${type} #${ordinal}`);
}

async function record(r) {
  const started = performance.now();
  const at = r.key ? `key/${keyPath(r.key)}` : `ordinal/${encodeURIComponent(r.ordinal)}`;
  const found = await api(`/api/versions/${encodeURIComponent(r.v)}/types/${encodeURIComponent(r.type)}/${at}`);
  timing("lookup", performance.now() - started);
  const keyed = found.key_fields.length > 0;
  show(
    el("h2", {}, `${found.type} ${keyed ? found.key.map(String).join(", ") : "#" + found.ordinal} in version ${found.version}`),
    keyed ? el("p", {}, el("a", { href: `#/h/${encodeURIComponent(found.type)}/${keyPath(found.key)}`, id: "history-link" }, "History of this record")) : null,
    el("div", { id: "record" }, json(found.record)),
    found.refs.length ? el("h3", {}, "References") : null,
    found.refs.length ? el("table", { id: "refs" }, found.refs.map((ref) => el("tr", {},
      el("td", {}, ref.field),
      el("td", {}, ref.key.length ? recordLink(found.version, ref.type, ref.key) : ordinalLink(found.version, ref.type, ref.ordinal))))) : null,
  );
}

async function lookup() {
  if (!listing) await load();
  const versions = listing.versions.filter((v) => v.reachable).map((v) => v.version);
  const current = listing.pinned ?? listing.announced ?? versions[0];
  const vSel = el("select", { name: "v" }, versions.map((v) => el("option", { value: v }, String(v))));
  vSel.value = String(current);
  const tSel = el("select", { name: "type" });
  const key = el("input", { name: "key", placeholder: "42 (several fields: a/b)" });
  const types = async () => {
    const rep = await api(`/api/versions/${vSel.value}`);
    tSel.replaceChildren(...rep.types.filter((t) => t.key).map((t) => el("option", { value: t.name }, t.name)));
  };
  vSel.addEventListener("change", types);
  const form = el("form", { id: "lookup" },
    el("label", {}, "version", vSel), el("label", {}, "type", tSel), el("label", {}, "key", key),
    el("button", { type: "submit" }, "Look up"));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const parts = key.value.split("/").map(encodeURIComponent).join("/");
    location.hash = `#/v/${vSel.value}/t/${encodeURIComponent(tSel.value)}/k/${parts}`;
  });
  show(el("h2", {}, "Look up a record by key"), form);
  await types();
}

// ---- history ----------------------------------------------------------------------------

async function history(r) {
  const h = await api(`/api/types/${encodeURIComponent(r.type)}/key/${keyPath(r.key)}/history`);
  show(
    el("h2", {}, `History of ${h.type} ${h.key.join(", ")}`),
    el("p", { class: "muted" }, `Walked versions ${h.versions[0]}…${h.versions[h.versions.length - 1]} (${h.versions.length}) along the delta chain.`),
    h.events.length === 0 ? el("p", {}, "Not in any version the store holds.") : null,
    el("table", { id: "history" }, h.events.map((e) => el("tr", {},
      el("td", {}, el("a", { href: `#/v/${e.version}/t/${encodeURIComponent(h.type)}/k/${keyPath(h.key)}` }, `v${e.version}`)),
      el("td", { class: `change-${e.change}` }, e.change),
      el("td", {}, e.fields && e.fields.length ? fieldTable(e.fields) : json(e.record)),
    ))),
  );
}

function fieldTable(fields) {
  return el("table", {}, fields.map((f) => el("tr", {},
    el("td", {}, f.field), el("td", {}, json(f.old)), el("td", {}, "→"), el("td", {}, json(f.new)))));
}

// ---- diff -------------------------------------------------------------------------------

async function diffForm() {
  if (!listing) await load();
  const versions = listing.versions.filter((v) => v.reachable).map((v) => v.version);
  const sel = (name, value) => {
    const s = el("select", { name }, versions.map((v) => el("option", { value: v }, String(v))));
    if (value !== undefined) s.value = String(value);
    return s;
  };
  const from = sel("from", versions[1] ?? versions[0]);
  const to = sel("to", versions[0]);
  const form = el("form", { id: "diff-form" }, el("label", {}, "from", from), el("label", {}, "to", to), el("button", { type: "submit" }, "Diff"));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    location.hash = `#/diff/${from.value}/${to.value}`;
  });
  show(el("h2", {}, "Diff two versions"), form);
}

async function diff(r) {
  const limit = 50;
  const d = await api(`/api/diff?from=${encodeURIComponent(r.from)}&to=${encodeURIComponent(r.to)}&offset=${r.offset}&limit=${limit}`);
  const base = `#/diff/${d.from}/${d.to}`;
  show(
    el("h2", {}, `Diff ${d.from} → ${d.to}`),
    el("p", { class: "muted" }, `via ${d.via.length ? d.via.join(", ") : "the same version"}`),
    el("table", { id: "diff-summary" },
      el("tr", {}, el("th", {}, "type"), el("th", { class: "num" }, "added"), el("th", { class: "num" }, "removed"), el("th", { class: "num" }, "changed")),
      d.summary.map((t) => el("tr", {}, el("td", {}, t.name), el("td", { class: "num" }, String(t.added_count)),
        el("td", { class: "num" }, String(t.removed_count)), el("td", { class: "num" }, String(t.changed_count))))),
    el("div", { class: "pager" },
      r.offset > 0 ? el("a", { href: `${base}/${Math.max(0, r.offset - limit)}` }, "← previous") : null,
      el("span", {}, `${d.total ? d.offset + 1 : 0}–${d.offset + d.records.length} of ${d.total} changed records`),
      d.offset + d.records.length < d.total ? el("a", { href: `${base}/${r.offset + limit}` }, "next →") : null),
    el("table", { id: "diff-records" }, d.records.map((c) => el("tr", {},
      el("td", { class: `change-${c.change}` }, c.change),
      el("td", {}, c.type),
      el("td", {}, c.key ? recordLink(d.to, c.type, c.key) : ""),
      el("td", {}, c.fields ? fieldTable(c.fields) : json(c.record)),
    ))),
  );
}

// ---- start ------------------------------------------------------------------------------

window.addEventListener("hashchange", render);
window.addEventListener("DOMContentLoaded", async () => {
  watchPaint();
  await load();
  await render();
  follow();
});
