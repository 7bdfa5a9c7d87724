// Refreshes a device page's Diagnostics section while one of its
// diagnostics is queued or running: polls the JSON API (the session cookie
// authenticates GETs) every 2 s and reloads the page once none is open.
(function () {
  "use strict";
  var panel = document.getElementById("diagnostics");
  if (!panel || panel.getAttribute("data-open") !== "true") return;
  var mac = panel.getAttribute("data-mac");
  function tick() {
    var x = new XMLHttpRequest();
    x.open("GET", "/api/v1/devices/" + mac + "/diagnostics");
    x.setRequestHeader("Accept", "application/json");
    x.onload = function () {
      if (x.status !== 200) return;
      var open = JSON.parse(x.responseText).items.some(function (d) {
        return d.state === "queued" || d.state === "running";
      });
      if (!open) {
        var u = new URL(window.location.href);
        var had = u.searchParams.has("notice");
        u.searchParams.delete("notice");
        u.hash = "diagnostics";
        if (had) window.location.replace(u.toString());
        else window.location.reload();
      }
    };
    x.send();
  }
  setInterval(tick, 2000);
})();
