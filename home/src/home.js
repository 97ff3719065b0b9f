// rumd's home page: reads rumd's public JSON API (the same answers any client gets) and draws
// the last hour's p75 web vitals, p75 charts over a chosen range, breakdown tables, the
// beacons refused by reason and the live state. docs/home.md describes what it shows.
import uPlot from 'uplot';

// The web.dev thresholds of each metric: at or under good is good, over poor is poor.
const METRICS = [
  { key: 'ttfb', name: 'TTFB', good: 800, poor: 1800 },
  { key: 'fcp', name: 'FCP', good: 1800, poor: 3000 },
  { key: 'lcp', name: 'LCP', good: 2500, poor: 4000 },
  { key: 'inp', name: 'INP', good: 200, poor: 500 },
  { key: 'cls', name: 'CLS', good: 0.1, poor: 0.25, unitless: true },
];
const BY = Object.fromEntries(METRICS.map((m) => [m.key, m]));
const BANDS = ['#e3f4ea', '#fcf0d2', '#fadcdc'];
const REFRESH_MS = 15000;
const TOKEN_KEY = 'rumd.token';
const RANGE_KEY = 'rumd.range';

const $ = (id) => document.getElementById(id);
const origin = window.location.origin;

class AuthError extends Error {}

// api gets one JSON answer, with the stored token when there is one.
async function api(path) {
  const headers = {};
  const token = localStorage.getItem(TOKEN_KEY);
  if (token) headers.Authorization = 'Bearer ' + token;
  const res = await fetch(path, { headers, cache: 'no-store' });
  if (res.status === 401) throw new AuthError(token ? 'the token was refused' : '');
  const body = await res.json();
  if (!res.ok && res.status !== 503) throw new Error(path + ': ' + (body.error || res.status));
  return body;
}

function fmt(m, v, unit) {
  if (v === null || v === undefined || Number.isNaN(v)) return '–';
  if (m.unitless) return v.toFixed(3);
  return Math.round(v).toLocaleString('en-US') + (unit ? ' ms' : '');
}

function rating(m, v) {
  if (v === null || v === undefined) return '';
  return v <= m.good ? 'good' : v <= m.poor ? 'ni' : 'poor';
}

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') e.className = v;
    else e.setAttribute(k, v);
  }
  for (const k of kids) e.append(k);
  return e;
}

function count(n) {
  return Math.round(n).toLocaleString('en-US');
}

// fewViews is the count below which a percentile is marked "few views"; /api/v1/status
// gives it (docs/home.md), so the page and other clients mark the same cells.
let fewViews = 20;

function isFew(n) {
  return n > 0 && n < fewViews;
}

// countNote is the count shown beside a percentile, with the "few views" marker below
// fewViews: a p75 of a handful of views is one of the slowest and moves with each new view.
function countNote(n, long) {
  const note = el('small', { class: 'n' }, long ? count(n) + (n === 1 ? ' view' : ' views') : 'n=' + count(n));
  if (isFew(n)) {
    note.append(' ', el('span', { class: 'few', title: `fewer than ${fewViews} views: this percentile is uncertain` }, 'few views'));
  }
  return note;
}

// ---- cards: the last hour at p75 ----

async function drawCards() {
  const answers = await Promise.all(METRICS.map((m) => api(`/api/v1/summary?metric=${m.key}&from=-1h&q=0.75`)));
  const box = $('cards');
  box.replaceChildren();
  answers.forEach((a, i) => {
    const m = METRICS[i];
    const row = a.rows[0];
    const v = row ? row.q['0.75'] : null;
    const n = row ? row.count : 0;
    box.append(el('div', { class: 'card ' + rating(m, v) + (isFew(n) ? ' few' : ''), 'data-metric': m.key, 'data-count': String(n) },
      el('div', { class: 'name' }, m.name + ' p75'),
      el('div', { class: 'val' }, fmt(m, v, true)),
      el('div', { class: 'n' }, row ? countNote(n, true) : 'no data')));
  });
}

// ---- charts: p75 over the chosen range, over the metric's bands ----

const charts = {};

function bands(m) {
  return {
    hooks: {
      drawClear: (u) => {
        const { left, top, width, height } = u.bbox;
        const bottom = top + height;
        const y = (v) => Math.min(bottom, Math.max(top, u.valToPos(v, 'y', true)));
        const edges = [0, m.good, m.poor, u.scales.y.max];
        const ctx = u.ctx;
        ctx.save();
        for (let i = 0; i < 3; i++) {
          const y0 = y(edges[i]);
          const y1 = y(Math.max(edges[i], edges[i + 1]));
          if (y0 > y1) {
            ctx.fillStyle = BANDS[i];
            ctx.fillRect(left, y1, width, y0 - y1);
          }
        }
        ctx.restore();
      },
    },
  };
}

function chartSize(box) {
  const width = Math.max(200, box.clientWidth - 12);
  return { width, height: Math.round(Math.min(240, Math.max(180, width * 0.7))) };
}

function makeChart(m) {
  const box = el('div', { class: 'chart', 'data-metric': m.key }, el('h3', {}, m.name + (m.unitless ? '' : ' (ms)')));
  const plot = el('div', { class: 'plot' });
  box.append(plot);
  $('charts').append(box);
  const state = { from: 0, to: 1 };
  const opts = {
    ...chartSize(box),
    plugins: [bands(m)],
    legend: { show: false },
    cursor: { drag: { x: false, y: false } },
    scales: {
      x: { time: true, range: () => [state.from, state.to] },
      y: { range: (u, lo, hi) => [0, Math.max(hi || 0, m.poor) * 1.15] },
    },
    axes: [
      { stroke: '#667085', space: 80, grid: { stroke: '#0000000d' }, ticks: { stroke: '#0000001a' } },
      { stroke: '#667085', size: 52, grid: { stroke: '#0000000d' }, ticks: { stroke: '#0000001a' },
        values: (u, vals) => vals.map((v) => (m.unitless ? v.toFixed(2) : count(v))) },
    ],
    series: [{}, { label: 'p75', stroke: '#2857c5', width: 2, points: { size: 5, fill: '#2857c5' } },
      // the same values again, only where the point has few views: drawn as hollow rings
      { label: 'few views', stroke: '#b7791f', width: 2, paths: () => null, points: { show: true, size: 9, fill: '#fff' } }],
  };
  const u = new uPlot(opts, [[], [], []], plot);
  new ResizeObserver(() => u.setSize(chartSize(box))).observe(box);
  charts[m.key] = { u, state };
}

async function drawCharts(range) {
  const answers = await Promise.all(METRICS.map((m) => api(`/api/v1/series?metric=${m.key}&from=-${range}&q=0.75`)));
  answers.forEach((a, i) => {
    const m = METRICS[i];
    if (!charts[m.key]) makeChart(m);
    const c = charts[m.key];
    c.state.from = a.from;
    c.state.to = a.to;
    const pts = a.series.length ? a.series[0].points : [];
    const xs = [];
    const ys = [];
    const few = [];
    for (const p of pts) {
      xs.push(p.t);
      ys.push(p.count > 0 ? p.q['0.75'] : null);
      few.push(isFew(p.count) ? p.q['0.75'] : null);
    }
    c.u.setData([xs, ys, few]);
    const box = $('charts').querySelector(`[data-metric="${m.key}"]`);
    box.dataset.points = String(ys.filter((v) => v !== null).length);
    box.dataset.few = String(few.filter((v) => v !== null).length);
  });
}

// ---- tables: breakdowns over the chosen range ----

const TABLE_METRICS = ['ttfb', 'lcp', 'inp'];

async function breakdown(dim, range) {
  const answers = await Promise.all(TABLE_METRICS.map((k) => api(`/api/v1/summary?metric=${k}&from=-${range}&q=0.75&by=${dim}`)));
  const rows = {};
  answers.forEach((a, i) => {
    for (const r of a.rows) {
      const key = r.labels[dim];
      rows[key] = rows[key] || { key, views: 0, q: {}, n: {} };
      rows[key].q[TABLE_METRICS[i]] = r.q['0.75'];
      rows[key].n[TABLE_METRICS[i]] = r.count;
      if (TABLE_METRICS[i] === 'ttfb') rows[key].views = r.count;
    }
  });
  return Object.values(rows);
}

function fillTable(id, dim, title, rows) {
  const t = $(id);
  t.replaceChildren();
  t.dataset.dim = dim;
  t.append(el('thead', {}, el('tr', {},
    el('th', {}, title), el('th', { class: 'num' }, 'views'),
    ...TABLE_METRICS.map((k) => el('th', { class: 'num' }, BY[k].name + ' p75')))));
  const body = el('tbody');
  if (!rows.length) body.append(el('tr', {}, el('td', { class: 'empty', colspan: String(2 + TABLE_METRICS.length) }, 'no beacons in this range yet')));
  for (const r of rows) {
    body.append(el('tr', { 'data-key': r.key },
      el('td', {}, r.key),
      el('td', { class: 'num', 'data-metric': 'views' }, count(r.views)),
      ...TABLE_METRICS.map((k) => el('td', { class: 'num ' + rating(BY[k], r.q[k]) + (isFew(r.n[k]) ? ' few' : ''), 'data-metric': k, 'data-count': String(r.n[k] || 0) },
        el('span', { class: 'v' }, fmt(BY[k], r.q[k], false)), r.n[k] ? countNote(r.n[k], false) : ''))));
  }
  t.append(body);
}

async function drawTables(range) {
  const [country, page, device, nav] = await Promise.all(['country', 'page', 'device', 'nav'].map((d) => breakdown(d, range)));
  const byViews = (a, b) => b.views - a.views || (a.key < b.key ? -1 : 1);
  const slowest = (a, b) => (b.q.lcp ?? b.q.ttfb ?? 0) - (a.q.lcp ?? a.q.ttfb ?? 0) || byViews(a, b);
  fillTable('t-country', 'country', 'country', country.sort(byViews).slice(0, 20));
  fillTable('t-page', 'page', 'page group', page.sort(slowest).slice(0, 10));
  fillTable('t-device', 'device', 'device', device.sort(byViews));
  fillTable('t-nav', 'nav', 'navigation', nav.sort(byViews));
}

// ---- beacons and live state ----

function bytes(n) {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : String(n)) + ' ' + units[i];
}

function bar(cls, pct) {
  const b = el('span', { class: 'bar ' + cls });
  b.style.width = Math.max(1, Math.round(pct)) + 'px';
  return b;
}

function drawBeacons(st) {
  const t = $('t-beacons');
  t.replaceChildren();
  const b = st.beacons;
  const total = Math.max(1, b.accepted + b.rejected_total);
  const row = (label, n, cls, key) => el('tr', { 'data-key': key },
    el('td', {}, label),
    el('td', { class: 'num', 'data-metric': 'count' }, count(n)),
    el('td', {}, bar(cls, (100 * n) / total), ((100 * n) / total).toFixed(1) + '%'));
  t.append(el('thead', {}, el('tr', {}, el('th', {}, 'beacons'), el('th', { class: 'num' }, 'count'), el('th', {}, 'share'))));
  const body = el('tbody');
  body.append(row('accepted', b.accepted, '', 'accepted'));
  for (const [reason, n] of Object.entries(b.rejected).sort((x, y) => y[1] - x[1])) {
    body.append(row('rejected: ' + reason, n, 'bad', reason));
  }
  for (const [reason, n] of Object.entries(st.refused).sort((x, y) => y[1] - x[1])) {
    body.append(el('tr', { 'data-key': 'refused:' + reason }, el('td', {}, 'request refused: ' + reason),
      el('td', { class: 'num' }, count(n)), el('td', { class: 'muted' }, 'before any beacon was read')));
  }
  t.append(body);
}

function drawLive(st, ready) {
  const t = $('t-live');
  t.replaceChildren();
  const kv = (k, v, key) => t.append(el('tr', { 'data-key': key }, el('th', {}, k), el('td', {}, v)));
  kv('beacons per second', `${st.beacons.per_second.toFixed(2)} (last ${Math.round(st.beacons.rate_seconds)} s)`, 'rate');
  kv('aggregator queue', `${count(st.queue.depth)} of ${count(st.queue.capacity)}` + (st.queue.shed ? `, ${count(st.queue.shed)} shed` : ''), 'queue');
  kv('storage', bytes(st.storage.disk_bytes) + (st.storage.flushed_until
    ? ', written until ' + new Date(st.storage.flushed_until * 1000).toLocaleTimeString() : '') +
    (st.storage.reserve_bytes ? `, ${bytes(Math.max(0, st.storage.free_bytes))} free` : ''), 'storage');
  if (st.storage.full) {
    t.append(el('tr', { 'data-key': 'disk-full', class: 'bad' }, el('th', {}, 'disk full'),
      el('td', {}, `under ${bytes(st.storage.reserve_bytes)} free: ${count(st.storage.held_windows)} closed minutes ` +
        `(${bytes(st.storage.held_bytes)}) held in memory, written once there is room; at the hold bound beacons get 503 storage_full`)));
  }
  const geo = (ready.components || {}).geoip || {};
  const ga = geo.attributes || {};
  if (st.geoip) {
    const built = new Date(st.geoip.built * 1000);
    const days = Math.floor((Date.now() - built.getTime()) / 86400000);
    kv('GeoIP database', `${ga.path || st.geoip.type} (${st.geoip.type})`, 'geoip');
    kv('GeoIP build date', `${built.toISOString().slice(0, 10)}, ${days} days old` + (ga.note ? ' – ' + ga.note : ''), 'geoip-built');
  } else {
    kv('GeoIP database', 'none: every country is XX (see docs/geoip.md)', 'geoip');
  }
  kv('up for', uptime(st.uptime_seconds), 'uptime');
  for (const [name, h] of Object.entries(ready.components || {})) {
    kv('ready: ' + name, h.status, 'ready-' + name);
  }
}

function uptime(s) {
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  return (d ? d + 'd ' : '') + (d || h ? h + 'h ' : '') + m + 'm';
}

// ---- getting started ----

function drawStart(dashboards) {
  $('snippet-tag').textContent = `<script async src="${origin}/rumd.js"></script>`;
  $('iframe-tag').textContent = `<iframe src="${origin}/test/embed?sample=5" loading="lazy" ` +
    'style="position:fixed;top:0;left:0;width:0;height:0;border:0" tabindex="-1" aria-hidden="true" title="rumd"></iframe>';
  if (dashboards) {
    const g = $('grafana');
    g.replaceChildren();
    const links = [dashboards.archive, ...(dashboards.provisioning || [])];
    links.forEach((href, i) => {
      if (i) g.append(', ');
      g.append(el('a', { href, download: '' }, href.split('/').pop()));
    });
  }
  const ingest = document.body.dataset.ingest;
  const rows = [
    ['POST ' + ingest, 'a beacon (the snippet sends them); see the README for the format'],
    ['GET /api/v1/series', `${origin}/api/v1/series?metric=ttfb&from=-1h&q=0.75&by=country`],
    ['GET /api/v1/summary', `${origin}/api/v1/summary?metric=lcp&from=-24h&q=0.75&by=page`],
    ['GET /api/v1/compare', `${origin}/api/v1/compare?metric=ttfb&from=-1h&a.variant=cdn-a&b.variant=cdn-b`],
    ['GET /api/v1/labels', `${origin}/api/v1/labels?from=-24h`],
    ['GET /api/v1/label/{dim}/values', `${origin}/api/v1/label/country/values?from=-24h`],
    ['GET /api/v1/status', `${origin}/api/v1/status`],
    ['GET /render (Graphite)', `${origin}/render?target=rumd.total.ttfb.p75&from=-1h&format=json`],
    ['GET /readyz', `${origin}/readyz`],
    ['GET /metrics', `${origin}/metrics`],
  ];
  const t = $('t-api');
  t.replaceChildren();
  for (const [what, ex] of rows) {
    const code = el('code', {}, ex.startsWith('http') ? `curl '${ex}'` : ex);
    t.append(el('tr', {}, el('td', {}, el('code', {}, what)), el('td', {}, code)));
  }
}

// ---- the loop ----

function rangeName(r) {
  return $('range').querySelector(`option[value="${r}"]`).textContent.replace(/^last /, 'the last ');
}

let timer = 0;

async function refresh() {
  clearTimeout(timer);
  const range = $('range').value;
  $('range-name').textContent = rangeName(range);
  try {
    const [st, ready, dashboards] = await Promise.all([api('/api/v1/status'), api('/readyz'), api('/dashboards/').catch(() => null)]);
    if (st.few_views > 0) fewViews = st.few_views;
    $('few-n').textContent = String(fewViews);
    await Promise.all([drawCards(), drawCharts(range), drawTables(range)]);
    drawBeacons(st);
    drawLive(st, ready);
    drawStart(dashboards);
    const pill = $('ready');
    pill.textContent = ready.status;
    pill.className = 'pill ' + ready.status;
    $('token').hidden = true;
    $('updated').textContent = 'updated ' + new Date().toLocaleTimeString();
    document.body.dataset.loaded = String(Number(document.body.dataset.loaded || 0) + 1);
  } catch (err) {
    if (err instanceof AuthError) {
      $('token').hidden = false;
      $('token-error').textContent = err.message;
      drawStart(null);
      return; // no retry loop until a token is given
    }
    $('updated').textContent = 'update failed: ' + err.message;
  }
  timer = setTimeout(refresh, REFRESH_MS);
}

function start() {
  const saved = localStorage.getItem(RANGE_KEY);
  if (saved && $('range').querySelector(`option[value="${saved}"]`)) $('range').value = saved;
  $('range').addEventListener('change', () => {
    localStorage.setItem(RANGE_KEY, $('range').value);
    refresh();
  });
  $('token').addEventListener('submit', (e) => {
    e.preventDefault();
    const v = $('token-input').value.trim();
    if (v) localStorage.setItem(TOKEN_KEY, v);
    else localStorage.removeItem(TOKEN_KEY);
    refresh();
  });
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden) refresh();
  });
  drawStart(null);
  refresh();
}

start();
