// drive.mjs runs Debian's Firefox ESR over WebDriver BiDi (puppeteer-core) for beacon-js's
// browser tests, which are written in Go: it reads one JSON command per line on stdin and
// answers each with one JSON line on stdout, {"id", "value"} or {"id", "error"}.
//
//   node drive.mjs --firefox /usr/bin/firefox-esr --profile DIR [--op-timeout MS]
//
// Every command is answered within --op-timeout (default 25000 ms): one that takes longer is
// answered with an error, and the next command runs (the late one's result is dropped), so a
// page that never settles fails its command instead of holding up every later one. The
// script also ends, closing Firefox, when its stdin closes (the test ended).
//
// A tab opened as a person's hides the automation from its pages: a preload script makes
// navigator.webdriver false before any page script runs, as it is in a visitor's browser.
// The first tab is a person's.
//
// Commands: {"op":"goto","url"} loads a URL and waits for its load event; {"op":"eval",
// "expr"} evaluates an expression (awaiting a promise) and returns its JSON value;
// {"op":"back"} goes back in history without waiting for a load event (a restore from the
// back-forward cache fires none); {"op":"newtab","person"} opens a fresh tab (a person's
// when person is true) and closes the old one; {"op":"version"} returns the browser's
// version; {"op":"quit"} ends the browser and the script.
import { createInterface } from 'node:readline';
import puppeteer from 'puppeteer-core';

const args = process.argv.slice(2);
const opt = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};

// hideWebdriver is the preload script of a person's tab. It also records the page's
// Content-Security-Policy violations in window.__csp, for the tests to read.
const hideWebdriver = () => {
  Object.defineProperty(Navigator.prototype, 'webdriver', { get: () => false, configurable: true });
  window.__csp = [];
  document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));
};

const browser = await puppeteer.launch({
  browser: 'firefox',
  protocol: 'webDriverBiDi',
  executablePath: opt('--firefox'),
  userDataDir: opt('--profile'),
  headless: true,
  extraPrefsFirefox: {
    // No first-run pages or update checks: nothing but the test's pages loads.
    'browser.shell.checkDefaultBrowser': false,
    'app.update.enabled': false,
    'datareporting.policy.dataSubmissionEnabled': false,
  },
});

let page = await browser.newPage();
const prepare = async (p, person) => {
  if (person) await p.evaluateOnNewDocument(hideWebdriver);
  return p;
};
await prepare(page, true);
for (const p of await browser.pages()) if (p !== page) await p.close();
await page.bringToFront();

const sleep = (d) => new Promise((r) => setTimeout(r, d));

const opTimeout = Number(opt('--op-timeout') || 25000);
// within settles as p does, or rejects after ms: the op's own promise is left to settle.
const within = (p, ms, what) => {
  let timer;
  const late = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(what + ': no result within ' + ms + ' ms')), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
};

// afterBack is set once the tab went back in history. puppeteer-core 24 over BiDi then
// never sees the load of a later page.goto when the page was restored from Firefox's
// back-forward cache (the navigation happens; the wait times out), so goto navigates from
// the page and watches the new document until it has loaded, for at most loadTimeout.
let afterBack = false;
// loadTimeout ends a load's wait before the command's own bound, so its error says why.
const loadTimeout = Math.max(1000, opTimeout - 1000);
const gotoByScript = async (url) => {
  const old = await page.evaluate('location.href');
  await page.evaluate((u) => setTimeout(() => { location.href = u; }, 0), url);
  const deadline = Date.now() + loadTimeout;
  for (;;) {
    let state = '';
    try {
      state = await page.evaluate('location.href + " " + document.readyState');
    } catch (e) {} // the old document went away under the evaluation
    // (Going to the URL already shown cannot tell the two documents apart: not done here.)
    if (state === url + ' complete' && url !== old) return;
    if (Date.now() > deadline) throw new Error('load of ' + url + ' not complete after ' + loadTimeout + ' ms (last: ' + state + ')');
    await sleep(50);
  }
};

const ops = {
  goto: async (c) => {
    if (afterBack) await gotoByScript(c.url);
    else await page.goto(c.url, { waitUntil: 'load', timeout: loadTimeout });
    return null;
  },
  eval: async (c) => page.evaluate(c.expr),
  back: async () => {
    // history.back() from the page itself: goBack would wait for a load event.
    await page.evaluate('setTimeout(() => history.back(), 0)');
    afterBack = true;
    return null;
  },
  newtab: async (c) => {
    const old = page;
    page = await prepare(await browser.newPage(), !!c.person);
    await old.close();
    await page.bringToFront(); // a background tab paints nothing: no FCP
    afterBack = false;
    return null;
  },
  version: async () => browser.version(),
  quit: async () => {
    await within(browser.close(), 10000, 'close').catch(() => browser.process()?.kill('SIGKILL'));
    return null;
  },
};

const send = (o) => process.stdout.write(JSON.stringify(o) + '\n');
send({ id: 0, value: 'ready' });

const rl = createInterface({ input: process.stdin });
for await (const line of rl) {
  let c;
  try {
    c = JSON.parse(line);
  } catch (e) {
    send({ id: -1, error: 'bad command: ' + e.message });
    continue;
  }
  try {
    const fn = ops[c.op];
    if (!fn) throw new Error('unknown op ' + c.op);
    const value = await within(fn(c), opTimeout, c.op);
    send({ id: c.id, value: value === undefined ? null : value });
    if (c.op === 'quit') process.exit(0);
  } catch (e) {
    send({ id: c.id, error: String((e && e.message) || e) });
  }
}
await within(browser.close(), 10000, 'close').catch(() => browser.process()?.kill('SIGKILL'));
process.exit(0);
