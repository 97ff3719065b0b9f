// The test page (/test): shows visitors their own page load as a waterfall, their web
// vitals, the probe timings and the exact beacon sent, so a network change can be checked
// by eye.
import { guard, navigation, onLeave, track } from './core.js';
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
  else if (!r) [flag, note] = ['failed', 'failed: no response, or no timing entry'];
  else if (detailHidden(r)) [flag, note] = ['no-tao', 'detail hidden (no Timing-Allow-Origin or CORS header): only the total counts'];
  else if (fromCache(r)) [flag, note] = ['cache', 'served from cache: not counted'];
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
    const body = view.send(view === first ? { variant, probes } : { variant });
    if (body) {
      $('json').textContent = JSON.stringify(JSON.parse(body), null, 2);
      $('bytes').textContent = body.length + ' bytes, sent to ' + cfg.endpoint;
      document.body.setAttribute('data-state', 'sent');
      $('status').textContent = 'Done. This page view was reported once; reload to measure again.';
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
        send();
      }), 300);
    }));
  }));
})();
