// The test page (/test): shows visitors their own page load as a waterfall, their web
// vitals, the probe timings and the exact beacon sent, so a network change can be checked
// by eye.
import { guard, navigation, onLeave, post, track } from './core.js';
import { afterLoad, config } from './page.js';
import { DETAIL, detailHidden, fromCache, runProbes } from './probes.js';

const $ = (id) => document.getElementById(id);
const el = (tag, text, cls) => {
  const e = document.createElement(tag);
  if (text != null) e.textContent = text;
  if (cls) e.className = cls;
  return e;
};
const fmt = (v) => (v == null ? '–' : v.toFixed(1) + ' ms');

// marks returns Level 2 marks, or Level 1 marks rebased on navigationStart.
const marks = () => {
  const n = navigation();
  if (n.nt) return n.nt;
  const m = {};
  if (n.nt1) for (const k in n.nt1) m[k] = n.nt1[k] ? n.nt1[k] - n.nt1.navigationStart : 0;
  return m;
};

// phases lists the waterfall rows as [label, start, end]; the rows are always the same, so
// that filling them in shifts no layout (the page's own CLS is in its beacon too).
const phases = (m) => {
  const tlsStart = m.secureConnectionStart;
  return [
    ['Redirect', m.redirectStart, m.redirectEnd],
    ['DNS', m.domainLookupStart, m.domainLookupEnd],
    ['Connect', m.connectStart, tlsStart || m.connectEnd],
    ['TLS', tlsStart, tlsStart && m.connectEnd],
    ['Request (to first byte)', m.requestStart, m.responseStart],
    ['Response', m.responseStart, m.responseEnd],
    ['DOM (to interactive)', m.responseEnd, m.domInteractive],
    ['DOMContentLoaded', m.domInteractive, m.domContentLoadedEventEnd],
    ['Load', m.domContentLoadedEventEnd, m.loadEventEnd],
  ];
};

const bar = (start, end, scale, cls) => {
  const b = el('span', null, 'bar ' + (cls || ''));
  b.style.left = (100 * start) / scale + '%';
  b.style.width = Math.max((100 * (end - start)) / scale, 0.4) + '%';
  return b;
};

const row = (cells) => {
  const tr = el('tr');
  for (const c of cells) {
    const td = el('td');
    if (c instanceof Node) td.appendChild(c);
    else td.textContent = c;
    tr.appendChild(td);
  }
  return tr;
};

const renderWaterfall = (m, vitals) => {
  const rows = phases(m);
  const ok = (r) => r[1] > 0 && r[2] > 0 && r[2] >= r[1];
  let scale = 1;
  for (const r of rows) if (ok(r)) scale = Math.max(scale, r[2]);
  for (const k of ['fcp', 'lcp']) scale = Math.max(scale, vitals[k] || 0);
  const tb = $('waterfall');
  tb.textContent = '';
  for (const r of rows) {
    const lane = el('div', null, 'track');
    if (ok(r)) lane.appendChild(bar(r[1], r[2], scale));
    tb.appendChild(row([r[0], ok(r) ? fmt(r[1]) : '–', ok(r) ? fmt(r[2] - r[1]) : 'none', lane]));
  }
  for (const k of ['fcp', 'lcp']) {
    const lane = el('div', null, 'track');
    const v = vitals[k];
    if (v > 0) lane.appendChild(bar(v, v, scale, 'mark'));
    tb.appendChild(row([k.toUpperCase(), v > 0 ? fmt(v) : '–', '', lane]));
  }
  $('proto').textContent = m.nextHopProtocol ? 'protocol ' + m.nextHopProtocol + ', ' : '';
  $('size').textContent = m.transferSize ? m.transferSize + ' bytes transferred' : 'size hidden or cached';
};

const renderVitals = (v) => {
  const dl = $('vitals');
  dl.textContent = '';
  for (const [k, label] of [['fcp', 'First Contentful Paint'], ['lcp', 'Largest Contentful Paint'],
    ['cls', 'Cumulative Layout Shift'], ['inp', 'Interaction to Next Paint']]) {
    dl.appendChild(el('dt', label));
    const x = v[k];
    dl.appendChild(el('dd', x == null ? (k == 'inp' ? 'no interaction yet' : '–') : k == 'cls' ? x.toFixed(3) : fmt(x)));
  }
};

// probeRow renders a probe's row: r undefined while it runs, null when it failed.
const probeRow = (p, r) => {
  const d = (a, b) => (r && r[a] && r[b] ? fmt(r[b] - r[a]) : '–');
  let flag = '';
  let note = 'ok';
  if (r === undefined) note = 'waiting…';
  else if (!r) [flag, note] = ['failed', 'failed: no response readable and no timing entry (a host without CORS headers, in WebKit)'];
  else if (r.timedBy === 'page') [flag, note] = ['page-timed', 'no Resource Timing entry from this browser: the page timed the fetch, only the total counts'];
  else if (fromCache(r)) [flag, note] = ['cache', 'served from cache: not counted'];
  else if (detailHidden(r)) [flag, note] = ['no-tao', 'detail hidden (no Timing-Allow-Origin or CORS header): only the total counts'];
  else if (r.transferSize === 0) note = 'ok (this browser hides the size: not taken for a cache hit)';
  const tr = row([p.name, d('domainLookupStart', 'domainLookupEnd'), d('connectStart', 'connectEnd'),
    r && r.secureConnectionStart ? fmt(r.connectEnd - r.secureConnectionStart) : '–',
    d('startTime', 'responseStart'), d('startTime', 'responseEnd'),
    (r && r.nextHopProtocol) || '–', note]);
  tr.setAttribute('data-probe', p.name);
  tr.setAttribute('data-flag', flag);
  if (flag) tr.className = 'flag';
  tr.title = r ? r.url : p.url;
  return tr;
};

// engineLimits lists what this browser cannot report, each as [key, text]; the page shows
// them so that a missing number is explained rather than guessed at.
const engineLimits = (m, probes) => {
  const out = [];
  const PO = window.PerformanceObserver;
  const types = (PO && PO.supportedEntryTypes) || [];
  for (const [type, key, name] of [['largest-contentful-paint', 'lcp', 'Largest Contentful Paint'],
    ['layout-shift', 'cls', 'Cumulative Layout Shift'], ['event', 'inp', 'Interaction to Next Paint']]) {
    if (types.indexOf(type) < 0) out.push([key, 'no ' + name + ' (' + key.toUpperCase() + '): this browser does not measure it']);
  }
  if (!navigation().nt) out.push(['nt1', 'Navigation Timing Level 1 only: marks on the wall clock, no transfer size']);
  const marks = ['fetchStart', 'domainLookupStart', 'domainLookupEnd', 'connectStart', 'connectEnd', 'requestStart', 'responseStart'];
  const below = marks.filter((k) => m[k] < 0);
  if (below.length) out.push(['negative', 'marks before the page\'s time origin (' + below.map((k) => k + ' ' + m[k]).join(', ') + '): rumd leaves out the metrics that use them and keeps the rest']);
  if (!m.responseStart && m.responseEnd > 0) out.push(['concealed', 'responseStart is 0 (a response faster than this browser\'s whole-millisecond marks, or hidden by a cross-origin redirect): rumd leaves out TTFB and download and keeps the rest']);
  const set = marks.concat(['responseEnd', 'domInteractive', 'loadEventEnd']).filter((k) => m[k]);
  if (set.length >= 3 && set.every((k) => m[k] % 1 === 0)) {
    out.push(['whole-ms', 'marks in whole milliseconds only: a response faster than 1 ms may show no TTFB']);
  }
  if (probes.some((r) => r.timedBy === 'page')) out.push(['page-timed', 'no Resource Timing entry for some probes: the page timed them itself, total only']);
  if (probes.some((r) => !detailHidden(r) && r.transferSize === 0 && !fromCache(r))) out.push(['size-hidden', 'no transfer size for cross-origin probes: rumd does not take that for a cache hit']);
  if (!navigator.connection) out.push(['conn', 'no connection type (navigator.connection)']);
  return out;
};

const renderLimits = (limits) => {
  const ul = $('limits');
  ul.textContent = '';
  for (const [key, text] of limits) {
    const li = el('li', text);
    li.setAttribute('data-limit', key);
    ul.appendChild(li);
  }
  if (!limits.length) ul.appendChild(el('li', 'none: this browser reports every metric rumd collects'));
};

// sendForVerdict posts the beacon with a keepalive fetch and shows rumd's answer: accepted,
// or refused with its reason and detail. Where fetch cannot send at all it falls back to
// sendBeacon, whose answer no page can read. A fetch that failed after sending is not sent
// again: a page view is reported once.
const sendForVerdict = (url, body) => {
  const show = (state, text) => {
    const v = $('verdict');
    v.setAttribute('data-verdict', state);
    v.textContent = text;
  };
  show('waiting', 'Sent; waiting for rumd\'s answer…');
  let req;
  try {
    req = fetch(url, {
      method: 'POST', body, keepalive: true, credentials: 'omit',
      headers: { 'Content-Type': 'text/plain;charset=UTF-8' },
    });
  } catch (e) {
    post(url, body);
    show('unknown', 'Sent with sendBeacon: this browser cannot read rumd\'s answer.');
    return;
  }
  req.then(async (res) => {
    if (res.ok) {
      show('accepted', 'rumd accepted this page view (HTTP ' + res.status + ').');
      return;
    }
    let j = {};
    try {
      j = await res.json();
    } catch (e) {}
    show('refused', 'rumd refused this page view: ' + (j.reason || 'HTTP ' + res.status) + (j.error ? ' (' + j.error + ')' : '') + '.');
  }, (e) => show('unknown', 'Sent, but rumd\'s answer could not be read: ' + e + '.'));
};

// renderExperiment says which experiment arm this page view got, with links that force each
// arm, so a person can check a variant by eye.
const renderExperiment = (x) => {
  const p = $('experiment');
  p.hidden = false;
  p.setAttribute('data-variant', x.variant);
  const b = (t) => el('b', t);
  const how = x.forced ? 'forced by ?variant=' : 'picked at random: weight ' + x.weight + ' of ' + x.total +
    ', ' + Math.round((100 * x.weight) / x.total) + '% of page views';
  p.append('Experiment ', b(x.name), ': this page view got variant ', b(x.variant), ' (' + how + '). Force one: ');
  x.variants.forEach((v, i) => {
    const a = el('a', v);
    a.href = '?experiment=' + encodeURIComponent(x.name) + '&variant=' + encodeURIComponent(v);
    p.append(i ? ' · ' : '', a);
  });
  p.append(' · ');
  const r = el('a', 'random');
  r.href = '?experiment=' + encodeURIComponent(x.name);
  p.append(r, '.');
};

guard(() => {
  const cfg = config();
  const list = cfg.probes || [];
  const x = cfg.experiment;
  const variant = x && x.variant;
  if (x) renderExperiment(x);
  let view;
  const probes = [];
  const get = track(cfg.endpoint, (v) => (view = v), (v) => renderVitals(v.vitals));
  const first = get();
  renderVitals(first.vitals);
  renderWaterfall({}, {});
  const rows = list.map((p) => $('probes').appendChild(probeRow(p)));
  if (!list.length) $('probes-section').hidden = true;
  $('detail').textContent = DETAIL.join(', ');

  const send = () => {
    const body = view.send(view === first ? { variant, probes } : { variant }, sendForVerdict);
    if (body) {
      $('json').textContent = JSON.stringify(JSON.parse(body), null, 2);
      $('bytes').textContent = body.length + ' bytes, sent to ' + cfg.endpoint;
      document.body.setAttribute('data-state', 'sent');
      $('status').textContent = 'Done. This page view was sent once (the answer from rumd is below); reload to measure again.';
    }
  };
  onLeave(send);
  afterLoad().then(guard(() => {
    renderWaterfall(marks(), first.vitals);
    $('status').textContent = list.length ? 'Running probes…' : 'Sending…';
    runProbes(list, (p, r) => {
      const i = list.indexOf(p);
      if (r) probes.push(r);
      const tr = probeRow(p, r);
      rows[i].replaceWith(tr);
      rows[i] = tr;
    }).then(guard(() => {
      // LCP may still be settling right after load; a moment later the numbers agree with
      // what the beacon carries.
      setTimeout(guard(() => {
        renderWaterfall(marks(), first.vitals);
        renderLimits(engineLimits(marks(), probes));
        send();
      }), 300);
    }));
  }));
})();
