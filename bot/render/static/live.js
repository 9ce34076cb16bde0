// An open incident's page follows it: it asks every 2.5 s whether anything changed, and when it did, swaps in the
// fresh page's content (no reload; the scroll position stays). Served from the bot's own origin (the CSP allows
// no other script).
(() => {
  "use strict";
  const EVERY_MS = 2500;
  const main = document.getElementById("main");
  if (!main || !main.dataset.live) return;
  let version = main.dataset.version;

  async function refresh() {
    const page = await fetch(location.pathname, { credentials: "same-origin" });
    if (!page.ok) return true;
    const fresh = new DOMParser().parseFromString(await page.text(), "text/html").getElementById("main");
    if (!fresh) return true;
    main.innerHTML = fresh.innerHTML;
    version = fresh.dataset.version;
    main.dataset.version = version;
    const status = document.getElementById("live-status");
    if (status) status.textContent = "Updated at " + new Date().toLocaleTimeString() + ".";
    return Boolean(fresh.dataset.live);
  }

  async function poll() {
    let live = true;
    try {
      const answer = await fetch(main.dataset.live, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (answer.ok) {
        const now = (await answer.json()).version;
        if (now !== version) live = await refresh();
      } else if (answer.status === 401 || answer.status === 404) {
        const status = document.getElementById("live-status");
        if (status) status.textContent = "No longer following: the sign-in ended. Reload to sign in again.";
        live = false;
      }
    } catch (error) {
      // the bot restarting or the network gone for a moment: ask again next time
    }
    if (live) setTimeout(poll, EVERY_MS);
  }
  setTimeout(poll, EVERY_MS);
})();
