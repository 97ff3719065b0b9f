// The snippet served as /rumd.js: samples page views and sends one beacon for each, when the
// page is hidden or unloaded.
//
// Configuration, first found wins: data- attributes on the script tag (data-endpoint,
// data-sample, data-variant, data-page), then a global object set before the script loads,
// window.rumdConfig = {endpoint, sample, variant, page}, then the defaults rumd bakes into
// __RUMD_DEFAULTS__ when it serves the file. variant and page are read again at send time,
// so code that picks an experiment arm after the snippet loaded can still label the view.
import { guard, onLeave, track } from './core.js';

guard(() => {
  const W = window;
  const script = document.currentScript;
  const defaults = __RUMD_DEFAULTS__;
  const attr = (k) => script && script.getAttribute('data-' + k);
  const global = () => W.rumdConfig || {};
  const pick = (k) => {
    const a = attr(k);
    if (a != null) return a;
    const g = global()[k];
    return g != null ? g : null;
  };

  // The baked-in endpoint is a path on rumd's own host, so it resolves against the
  // script's URL; an endpoint set by the page resolves against the page, like any link.
  const set = pick('endpoint');
  const endpoint = set != null ? new URL(set, location.href).href
    : new URL(defaults.endpoint, (script && script.src) || location.href).href;

  const s = pick('sample');
  const rate = s != null && s !== '' && !isNaN(+s) ? +s : defaults.sample;
  if (!(Math.random() * 100 < rate)) return;

  let view;
  track(endpoint, (v) => (view = v));
  onLeave(() => {
    view.send({ variant: pick('variant'), page: pick('page') });
  });
})();
