// The consent page goes on by itself once the owner answers the request in the dashboard.
(function () {
  const form = document.getElementById("consent");
  if (!form) return;
  const request = form.dataset.request;
  let busy = false;
  form.addEventListener("submit", () => { busy = true; });
  async function poll() {
    if (busy) return;
    try {
      const r = await fetch("/oauth/authorize/status?request=" + encodeURIComponent(request), { cache: "no-store" });
      const s = await r.json();
      if (s.state === "decided" && s.redirect) { busy = true; window.location.replace(s.redirect); return; }
      if (s.state === "unknown") return;
    } catch (e) { /* try again */ }
    setTimeout(poll, 1000);
  }
  setTimeout(poll, 1000);
})();
