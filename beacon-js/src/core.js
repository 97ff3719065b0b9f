// Shared by the snippet, the test page and the hidden iframe: one page view, its
// Navigation Timing, its web vitals, and the single beacon (wire format v1) that reports it.
import { onCLS, onFCP, onINP, onLCP } from 'web-vitals';

const W = window;
const D = document;
const P = W.performance;
const N = navigator;

// guard runs fn and swallows anything it throws: the host page must never see our errors.
export const guard = (fn) =>
  function () {
    try {
      return fn.apply(this, arguments);
    } catch (e) {}
  };

// token returns n random characters of [a-z0-9], safe in a URL query and a DNS label.
export const token = (n) => {
  const a = 'abcdefghijklmnopqrstuvwxyz0123456789';
  const r = new Uint8Array(n);
  const c = W.crypto;
  if (c && c.getRandomValues) c.getRandomValues(r);
  else for (let i = 0; i < n; i++) r[i] = Math.random() * 256;
  let s = '';
  for (let i = 0; i < n; i++) s += a[r[i] % 36];
  return s;
};

// ms rounds a time to 0.1 ms, which the browsers' clocks do not beat anyway.
export const ms = (v) => Math.round((+v || 0) * 10) / 10;

const NT_MARKS = [
  'redirectStart', 'redirectEnd', 'fetchStart', 'domainLookupStart', 'domainLookupEnd',
  'connectStart', 'secureConnectionStart', 'connectEnd', 'requestStart', 'responseStart',
  'responseEnd', 'domInteractive', 'domContentLoadedEventEnd', 'loadEventEnd',
];
const NT1_MARKS = ['navigationStart'].concat(NT_MARKS);
const NAV1 = ['navigate', 'reload', 'back_forward'];

// navEntry returns the Level 2 PerformanceNavigationTiming entry, if the browser has one.
export const navEntry = () => (P && P.getEntriesByType && P.getEntriesByType('navigation')[0]) || null;

// origin is performance.timeOrigin, or navigationStart on browsers that predate it.
export const origin = () => (P.timeOrigin || P.timing.navigationStart);

// now is performance.now() on the clock whose zero is origin().
export const now = () => (P.now ? P.now() : Date.now() - origin());

// navigation returns the beacon's nav type and its nt (Level 2) or nt1 (Level 1) marks.
export const navigation = () => {
  const e = navEntry();
  const out = {};
  if (e) {
    const nt = {};
    for (const k of NT_MARKS) nt[k] = ms(e[k]);
    nt.activationStart = ms(e.activationStart);
    nt.transferSize = e.transferSize || 0;
    if (e.nextHopProtocol) nt.nextHopProtocol = e.nextHopProtocol;
    out.nt = nt;
    out.nav = nt.activationStart > 0 || D.prerendering ? 'prerender'
      : NAV1.indexOf(e.type) >= 0 ? e.type : 'navigate';
  } else if (P.timing) {
    const t = P.timing;
    const nt1 = {};
    for (const k of NT1_MARKS) nt1[k] = t[k] || 0;
    out.nt1 = nt1;
    out.nav = NAV1[(P.navigation && P.navigation.type) | 0] || 'navigate';
  }
  return out;
};

// View is one page view: the load of the document, or a restore from the back-forward cache.
// It collects the vitals web-vitals reports for it and sends exactly one beacon.
export class View {
  // restored is the time of a restore from the back-forward cache (pageshow's timeStamp), or
  // undefined for the document's own load.
  constructor(endpoint, restored) {
    this.endpoint = endpoint;
    this.restored = restored;
    this.bfcache = restored != null;
    this.id = token(16);
    this.vitals = {};
    this.sent = null;
  }

  // beacon builds the wire-format v1 object at this moment; extra fields (variant, page,
  // probes) are merged in when set.
  beacon(extra) {
    const b = { v: 1, id: this.id, url: location.href };
    b.sent = Date.now();
    b.origin = origin();
    b.now = ms(now());
    if (this.bfcache) {
      // A restore fetches nothing: its marks all sit at the restore, which stands in for
      // activationStart as a prerender's activation does, so the network timings derived
      // from them are 0 and the vitals (which web-vitals measures from the restore) agree.
      b.nav = 'bfcache';
      const t = ms(this.restored) || 0.1;
      const nt = { activationStart: t, transferSize: 0 };
      for (const k of ['fetchStart', 'responseStart', 'responseEnd', 'domInteractive', 'domContentLoadedEventEnd', 'loadEventEnd']) nt[k] = t;
      b.nt = nt;
    } else {
      const n = navigation();
      b.nav = n.nav || 'navigate';
      if (n.nt) b.nt = n.nt;
      if (n.nt1) b.nt1 = n.nt1;
    }
    const c = N.connection;
    if (c && c.effectiveType) b.conn = c.effectiveType;
    b.webdriver = !!N.webdriver;
    const v = {};
    let any = false;
    for (const k in this.vitals) {
      v[k] = this.vitals[k];
      any = true;
    }
    if (any) b.vitals = v;
    for (const k in extra) {
      const x = extra[k];
      if (x != null && x !== '' && !(Array.isArray(x) && !x.length)) b[k] = typeof x == 'number' ? '' + x : x;
    }
    return b;
  }

  // send posts the beacon once, with poster (default post); later calls return the body
  // already sent (or null when nothing was sent because the page was never shown, e.g. an
  // unactivated prerender).
  send(extra, poster) {
    if (this.sent !== null || D.prerendering) return this.sent;
    const body = JSON.stringify(this.beacon(extra));
    this.sent = body;
    (poster || post)(this.endpoint, body);
    return body;
  }
}

// post delivers a body without a CORS preflight: sendBeacon with a string (text/plain), or a
// keepalive fetch when sendBeacon is missing or refuses the body.
export const post = (url, body) => {
  try {
    if (N.sendBeacon && N.sendBeacon(url, body)) return;
  } catch (e) {}
  try {
    W.fetch(url, {
      method: 'POST', body, keepalive: true, credentials: 'omit', mode: 'no-cors',
      headers: { 'Content-Type': 'text/plain;charset=UTF-8' },
    }).catch(() => {});
  } catch (e) {}
};

const VITALS = { FCP: 'fcp', LCP: 'lcp', CLS: 'cls', INP: 'inp' };

// track starts web-vitals once for the document and returns a function giving the current
// View; a bfcache restore starts a new View, whose vitals are the ones web-vitals reports for
// the restore. onView is called with each new View (the first one included), onChange after
// every vitals update.
export const track = (endpoint, onView, onChange) => {
  let view = new View(endpoint);
  const report = guard((m) => {
    // Vitals of the document's load never leak into a restore's view, nor the reverse.
    if ((m.navigationType === 'back-forward-cache') !== view.bfcache || m.value < 0) return;
    view.vitals[VITALS[m.name]] = m.name === 'CLS' ? Math.round(m.value * 1e4) / 1e4 : ms(m.value);
    if (onChange) onChange(view);
  });
  const o = { reportAllChanges: true };
  onFCP(report, o);
  onLCP(report, o);
  onCLS(report, o);
  onINP(report, o);
  W.addEventListener('pageshow', guard((e) => {
    if (e.persisted) {
      view = new View(endpoint, e.timeStamp);
      onView(view);
    }
  }), true);
  onView(view);
  return () => view;
};

// onLeave calls fn when the page is hidden or unloaded. Its listeners sit on the document in
// the bubble phase, after web-vitals' (window, capture), so that web-vitals has reported the
// final CLS and INP by then. On a navigation pagehide comes first, while the page is still
// visible and web-vitals still holds the last interaction's entries: fn then waits for the
// visibilitychange that follows; pagehide alone calls it only when no such event will come.
export const onLeave = (fn) => {
  const g = guard(fn);
  D.addEventListener('visibilitychange', () => {
    if (D.visibilityState === 'hidden') g();
  });
  W.addEventListener('pagehide', () => {
    if (D.visibilityState !== 'visible' || !('onvisibilitychange' in D)) g();
  });
};
