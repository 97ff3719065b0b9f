// Helpers shared by the test page and the hidden iframe: their config, and the moment after
// the page's load when measuring no longer disturbs it.

// config reads the JSON rumd writes into the page.
export const config = () => {
  const el = document.getElementById('rumd-config');
  return JSON.parse((el && el.textContent) || '{}');
};

// afterLoad resolves once the load event has finished (so loadEventEnd is set).
export const afterLoad = () =>
  new Promise((resolve) => {
    const done = () => setTimeout(resolve, 0);
    if (document.readyState === 'complete') done();
    else addEventListener('load', done, { once: true });
  });

// idle resolves when the browser is idle, or after timeout ms at the latest.
export const idle = (timeout) =>
  new Promise((resolve) => {
    if (window.requestIdleCallback) requestIdleCallback(() => resolve(), { timeout });
    else setTimeout(resolve, 50);
  });
