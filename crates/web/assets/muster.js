// Muster's page script: progressive enhancement only. Without it every page still reads
// (deadlines show their time); with it the clock's countdowns tick, and a page that shows
// live data refetches its live part (through htmx) when the server announces a commit.
(function () {
  "use strict";

  function words(secs) {
    var abs = Math.abs(secs), h = Math.floor(abs / 3600), m = Math.floor((abs % 3600) / 60), s = abs % 60;
    var text = h > 0 ? h + " h " + String(m).padStart(2, "0") + " min" : m > 0 ? m + " min " + String(s).padStart(2, "0") + " s" : s + " s";
    return secs >= 0 ? "due in " + text : "overdue by " + text;
  }

  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-due]").forEach(function (el) {
      var due = Date.parse(el.getAttribute("data-due"));
      if (isNaN(due)) return;
      var left = Math.round((due - now) / 1000);
      var out = el.querySelector(".left");
      if (out) out.textContent = words(left);
      var warn = el.getAttribute("data-warn");
      var warning = warn !== null && now >= Date.parse(warn);
      el.classList.toggle("warning", warning);
      el.classList.toggle("overdue", left <= 0);
      var label = el.querySelector(".warn-label");
      if (warning && !label) {
        label = document.createElement("span");
        label.className = "warn-label";
        label.textContent = "warning due";
        el.insertBefore(label, el.querySelector(".policy"));
      }
    });
  }

  var source = null, url = null, timer = null;
  function listen() {
    var live = document.querySelector("[data-events]");
    var want = live ? live.getAttribute("data-events") : null;
    if (want === url) return;
    if (source) source.close();
    source = null; url = want;
    if (!want || !window.EventSource) return;
    source = new EventSource(want);
    source.addEventListener("ready", function () { document.body.setAttribute("data-live", "ready"); });
    source.addEventListener("changed", function () {
      clearTimeout(timer);
      // Several commits in a burst: one refetch.
      timer = setTimeout(function () {
        if (window.htmx) window.htmx.trigger(document.body, "muster:changed");
        else if (!document.querySelector("form textarea:focus, form input:focus")) location.reload();
      }, 150);
    });
  }

  function start() {
    tick();
    listen();
    setInterval(tick, 1000);
    document.body.addEventListener("htmx:afterSettle", function () { tick(); listen(); });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
