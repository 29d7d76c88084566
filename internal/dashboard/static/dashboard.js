// Live updates: the server says "change" over server-sent events; the page
// then fetches its own main region again and swaps it in. Without
// JavaScript the pages work as they are, without updates.
(function () {
  "use strict";
  var main = document.getElementById("main");
  var statusLine = document.getElementById("live-status");
  var live = document.body.getAttribute("data-live");

  function countdowns() {
    var now = Date.now();
    document.querySelectorAll("time.countdown").forEach(function (t) {
      var left = Math.round((Date.parse(t.getAttribute("datetime")) - now) / 1000);
      if (left <= 0) { t.textContent = "ended"; return; }
      var h = Math.floor(left / 3600), m = Math.floor(left % 3600 / 60), s = left % 60;
      t.textContent = (h ? h + "h" : "") + (h || m ? m + "m" : "") + s + "s";
    });
  }
  setInterval(countdowns, 1000);

  if (!live || !window.EventSource) return;
  var fetching = false, again = false;
  function refresh() {
    if (fetching) { again = true; return; }
    fetching = true;
    fetch(location.href, { headers: { "X-Fragment": "1" }, credentials: "same-origin" })
      .then(function (r) {
        if (r.status === 401) { location.href = "/login"; return null; }
        return r.ok ? r.text() : null;
      })
      .then(function (html) {
        if (html === null) return;
        // Keep what the reader had open and where the focus was.
        var open = [];
        main.querySelectorAll("details[open] > summary").forEach(function (s) { open.push(s.textContent); });
        var focusedHref = document.activeElement && document.activeElement.getAttribute("href");
        // And what they were typing into a form (the namespace filter).
        var fields = {}, focusedField = null;
        main.querySelectorAll("input[id], select[id]").forEach(function (f) {
          fields[f.id] = f.value;
          if (f === document.activeElement) focusedField = f.id;
        });
        main.innerHTML = html;
        Object.keys(fields).forEach(function (id) {
          var f = document.getElementById(id);
          if (f) f.value = fields[id];
        });
        if (focusedField && document.getElementById(focusedField)) document.getElementById(focusedField).focus();
        main.querySelectorAll("details > summary").forEach(function (s) {
          if (open.indexOf(s.textContent) >= 0) s.parentElement.open = true;
        });
        if (focusedHref) {
          var el = main.querySelector('a[href="' + CSS.escape(focusedHref) + '"]');
          if (el) el.focus();
        }
        countdowns();
        main.setAttribute("data-updated", String(Date.now()));
      })
      .finally(function () {
        fetching = false;
        if (again) { again = false; refresh(); }
      });
  }
  var es = new EventSource(live);
  es.addEventListener("change", refresh);
  es.onopen = function () { statusLine.textContent = "Live"; };
  es.onerror = function () { statusLine.textContent = "Reconnecting…"; };
})();
