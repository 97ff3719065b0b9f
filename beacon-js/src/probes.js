// Probes of the test page and the hidden iframe: fetch each configured URL once, uncached,
// and report its Resource Timing entry with marks relative to timeOrigin.
import { ms, token } from './core.js';

const MARKS = [
  'startTime', 'fetchStart', 'domainLookupStart', 'domainLookupEnd', 'connectStart', 'secureConnectionStart',
  'connectEnd', 'requestStart', 'responseStart', 'responseEnd',
];
// Marks a host hides unless it sends Timing-Allow-Origin: domainLookupStart to responseStart.
export const DETAIL = MARKS.slice(2, 9);

// probeURL fills the template: every {rand} gets one fresh token (a host name with {rand}
// makes a cold DNS lookup where the zone has a wildcard); a template without {rand} gets it
// as a cache-busting query parameter.
export const probeURL = (tpl) => {
  const t = token(12);
  if (tpl.indexOf('{rand}') >= 0) return tpl.split('{rand}').join(t);
  return tpl + (tpl.indexOf('?') >= 0 ? '&' : '?') + 'r=' + t;
};

const sleep = (d) => new Promise((r) => setTimeout(r, d));

// entryFor waits for the Resource Timing entry of url, which the browser adds a little after
// the body has arrived.
const entryFor = async (url) => {
  for (let i = 0; i < 100; i++) {
    const es = performance.getEntriesByName(url, 'resource');
    if (es.length) return es[es.length - 1];
    await sleep(20);
  }
  return null;
};

// runProbe fetches one probe and returns its beacon entry, or null when it failed. The fetch
// is a CORS one: Chrome records no entry at all for a no-cors fetch. A host without
// Access-Control-Allow-Origin makes the fetch fail after its response headers arrived;
// Chromium and Firefox still time it in an entry (total only), WebKit leaves none. A fetch
// that succeeded but left no entry is timed by the page itself, around the fetch and the
// read of its body: the total only, marked timedBy "page".
export const runProbe = async (p) => {
  const url = new URL(probeURL(p.url), location.href).href;
  const now = () => performance.now();
  const t0 = now();
  let t1 = 0;
  try {
    const res = await fetch(url, { cache: 'no-store' });
    await res.arrayBuffer();
    if (res.ok) t1 = now();
  } catch (e) {}
  const e = await entryFor(url);
  const out = { name: p.name, url };
  if (!e || !(e.responseEnd > 0)) {
    if (!t1) return null;
    out.startTime = ms(t0);
    out.responseEnd = ms(t1);
    out.timedBy = 'page';
    return out;
  }
  for (const k of MARKS) out[k] = ms(e[k]);
  // Sizes only where the browser reports them: a missing one is unknown, not 0.
  for (const k of ['transferSize', 'decodedBodySize']) if (typeof e[k] == 'number') out[k] = e[k];
  if (e.deliveryType) out.deliveryType = e.deliveryType;
  if (e.nextHopProtocol) out.nextHopProtocol = e.nextHopProtocol;
  return out;
};

// runProbes runs the probes one after another, so that none competes with another for the
// network, and calls onResult after each one.
export const runProbes = async (probes, onResult) => {
  const out = [];
  for (const p of probes || []) {
    const r = await runProbe(p);
    if (r) out.push(r);
    if (onResult) onResult(p, r);
  }
  return out;
};

// detailHidden reports whether every detail mark is 0: the host sent no Timing-Allow-Origin.
export const detailHidden = (e) => DETAIL.every((k) => !e[k]);

// fromCache reports whether a probe shows positive evidence that a cache answered it: its
// deliveryType says so, or its detail is visible (Timing-Allow-Origin) and it transferred
// nothing yet decoded a body. A transferSize of 0 alone is no evidence: WebKit reports it
// for every cross-origin fetch, and every browser for a host without Timing-Allow-Origin
// (Firefox still gives a CORS response's decoded size); the probes are fetched no-store
// with a fresh token.
export const fromCache = (e) =>
  e.deliveryType === 'cache' || (!detailHidden(e) && e.transferSize === 0 && e.decodedBodySize > 0);
