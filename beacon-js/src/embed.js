// The hidden iframe (/test/embed): the test page's measurement without a UI. On a sampled
// share of page views it waits for its load and an idle moment, runs the probes once, sends
// one beacon and stays silent. A page view in an experiment runs its variant's probes too
// (rumd puts them in the config) and reports the variant.
import { guard, onLeave, track } from './core.js';
import { afterLoad, config, idle } from './page.js';
import { runProbes } from './probes.js';

guard(() => {
  const cfg = config();
  if (!(Math.random() * 100 < cfg.sample)) return;
  let view;
  track(cfg.endpoint, (v) => (view = v));
  const first = view;
  const variant = cfg.experiment && cfg.experiment.variant;
  let probes = [];
  const send = () => {
    view.send(view === first ? { variant, probes } : { variant });
    document.documentElement.setAttribute('data-rumd', 'sent');
  };
  onLeave(send);
  afterLoad()
    .then(() => idle(5000))
    .then(() => runProbes(cfg.probes, (p, r) => r && probes.push(r)))
    .then(guard(send), () => {});
})();
