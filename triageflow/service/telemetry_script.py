"""The browser script the service serves at `/telemetry.js`: reports `window.onerror` and `unhandledrejection`.

Load it with `<script src="https://triage.example/telemetry.js" data-project="shop" data-release="1.2.3"
data-environment="production"></script>`; it posts to the `/api/telemetry/error` of the host it was loaded
from, as `text/plain` (a simple request: no CORS preflight), with one session id per tab.
"""

BROWSER_SCRIPT = r"""(function () {
  "use strict";
  var me = document.currentScript;
  if (!me || window.__triageflowTelemetry) { return; }
  var endpoint = new URL("/api/telemetry/error", me.src).href;
  var data = me.dataset || {};
  function uuid() {
    if (window.crypto && crypto.randomUUID) { return crypto.randomUUID().replace(/-/g, ""); }
    var s = ""; for (var i = 0; i < 32; i++) { s += Math.floor(Math.random() * 16).toString(16); } return s;
  }
  var session;
  try { session = sessionStorage.getItem("triageflow.session") || uuid(); sessionStorage.setItem("triageflow.session", session); }
  catch (e) { session = uuid(); }
  var sent = 0;
  function report(type, message, stack) {
    if (sent++ >= 20) { return Promise.resolve(null); }  // one page never floods the service
    var body = {
      eventId: uuid(), message: String(message || "(no message)").slice(0, 4000), type: type || null,
      stack: stack ? String(stack).slice(0, 16000) : null, url: location.href, userAgent: navigator.userAgent,
      release: data.release || null, environment: data.environment || null, sessionId: session,
      projectId: data.project || "browser", level: "error", tags: {source: "telemetry.js"}
    };
    return fetch(endpoint, {method: "POST", body: JSON.stringify(body), keepalive: true,
                            headers: {"Content-Type": "text/plain"}, credentials: "omit"})
      .then(function (r) { return r.json(); }).catch(function () { return null; });
  }
  window.addEventListener("error", function (ev) {
    var err = ev.error;
    window.__triageflowLast = report(err && err.name, err ? err.message : ev.message, err && err.stack);
  });
  window.addEventListener("unhandledrejection", function (ev) {
    var r = ev.reason;
    var isError = r && typeof r === "object" && "message" in r;
    window.__triageflowLast = report(isError ? r.name : "UnhandledRejection", isError ? r.message : String(r),
                                     isError ? r.stack : null);
  });
  window.__triageflowTelemetry = {report: report};
})();
"""
