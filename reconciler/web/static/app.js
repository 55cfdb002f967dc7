// reconciler web UI: live updates without a reload, and local times.
//
// The page's <body data-version> is the snapshot version it was rendered from. /events
// (server-sent events) announces each new version; the page then fetches itself again and
// swaps its <main> in place, keeping the focused element (by id) and the scroll position.
// No request reaches the cluster: the server renders from the snapshot it already holds.
(function () {
  "use strict";
  var body = document.body;
  var version = Number(body.getAttribute("data-version") || "0");
  var url = body.getAttribute("data-events");
  var busy = false;

  function localTimes(root) {
    var times = root.querySelectorAll("time[datetime]");
    for (var i = 0; i < times.length; i++) {
      var t = new Date(times[i].getAttribute("datetime"));
      if (!isNaN(t)) { times[i].title = times[i].textContent; times[i].textContent = t.toLocaleString(); }
    }
  }

  function refresh(next) {
    if (busy || next === version) { return; }
    busy = true;
    fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (resp) { return resp.ok ? resp.text() : null; })
      .then(function (html) {
        if (html === null) { return; }
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById("content");
        var main = document.getElementById("content");
        if (!fresh || !main) { return; }
        var focused = document.activeElement && document.activeElement.id;
        var y = window.scrollY;
        main.innerHTML = fresh.innerHTML;
        localTimes(main);
        if (focused) { var el = document.getElementById(focused); if (el) { el.focus(); } }
        window.scrollTo(0, y);
        version = Number(doc.body.getAttribute("data-version") || next);
        body.setAttribute("data-version", String(version));
        var status = document.getElementById("live-status");
        var freshStatus = doc.getElementById("live-status");
        if (status && freshStatus) { status.innerHTML = freshStatus.innerHTML; localTimes(status); }
      })
      .catch(function () { /* the next event tries again */ })
      .then(function () { busy = false; });
  }

  localTimes(document);
  if (!url) { return; }
  if (window.EventSource) {
    var source = new EventSource(url);
    source.addEventListener("snapshot", function (e) { refresh(Number(e.data)); });
  } else {
    window.setInterval(function () {
      fetch("/api/snapshot", { credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (s) { refresh(s.version); });
    }, 5000);
  }
}());
