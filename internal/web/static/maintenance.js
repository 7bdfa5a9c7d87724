// Keeps a device page's status and command list current without a reload:
// polls the JSON API (the session cookie authenticates GETs) every 3 s.
// The words and the time format (the reader's language and time zone) come
// from the panel's data-* attributes (templates/partial_device_maintenance.html).
(function () {
  "use strict";
  var panel = document.getElementById("remote-maintenance");
  if (!panel) return;
  var mac = panel.getAttribute("data-mac");
  function msg(name, def) { var v = panel.getAttribute("data-" + name); return v === null ? def : v; }
  var labels = {reboot: msg("label-reboot", "Reboot"), autop: msg("label-autop", "AutoP (fetch config)")};
  var zone = msg("zone", "UTC") || "UTC";
  var layout = msg("layout", "2006-01-02 15:04:05") || "2006-01-02 15:04:05";
  function pad(n) { return n < 10 ? "0" + n : "" + n; }
  // parts are an instant's fields in the reader's time zone (UTC when the
  // browser does not know the zone).
  function parts(d) {
    try {
      var out = {};
      new Intl.DateTimeFormat("en-US", {timeZone: zone, hourCycle: "h23", year: "numeric", month: "numeric", day: "numeric",
        hour: "numeric", minute: "numeric", second: "numeric"}).formatToParts(d).forEach(function (p) { out[p.type] = parseInt(p.value, 10); });
      if (out.hour === 24) out.hour = 0;
      return out;
    } catch (e) {
      return {year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate(), hour: d.getUTCHours(),
        minute: d.getUTCMinutes(), second: d.getUTCSeconds()};
    }
  }
  // fmt writes an instant as the page's datetime does: layout is its Go
  // layout (2006 year, 01/1 month, 02/2 day, 15 hour, 04 minute, 05 second).
  function fmt(s) {
    if (!s) return "-";
    var p = parts(new Date(s));
    var v = {"2006": "" + p.year, "01": pad(p.month), "1": "" + p.month, "02": pad(p.day), "2": "" + p.day,
      "15": pad(p.hour), "04": pad(p.minute), "05": pad(p.second)};
    return layout.replace(/2006|15|01|02|04|05|1|2/g, function (t) { return v[t]; });
  }
  function set(id, text) { var el = document.getElementById(id); if (el) el.textContent = text || "-"; }
  function label(c) {
    if (c.kind === "reset") return c.mode === "factory" ? msg("label-factory", "Factory reset") : msg("label-config", "Configuration reset");
    return labels[c.kind] || c.kind;
  }
  function cell(tr, text, cls) {
    var td = document.createElement("td");
    if (cls) td.className = cls;
    td.textContent = text;
    tr.appendChild(td);
    return td;
  }
  function status(d) {
    var st = document.getElementById("device-status");
    if (st) {
      st.innerHTML = "";
      var span = document.createElement("span");
      span.className = d.online ? "dl-online" : "dl-offline";
      span.textContent = d.online ? msg("msg-online", "Online") : msg("msg-offline", "Offline");
      st.appendChild(span);
    }
    set("device-last-seen", d.last_seen ? fmt(d.last_seen) + " " + zone : msg("msg-never", "never"));
    set("device-ip", d.ip); set("device-model", d.model); set("device-firmware", d.firmware);
    set("device-config-version", d.config_version);
  }
  function commands(list) {
    var body = document.querySelector("#device-commands tbody");
    if (!body) return;
    body.innerHTML = "";
    if (!list.items.length) {
      var tr = document.createElement("tr"); tr.className = "none";
      var td = cell(tr, msg("msg-none", "No commands yet."), "empty"); td.colSpan = 8;
      body.appendChild(tr);
      return;
    }
    list.items.slice(0, 20).forEach(function (c) {
      var tr = document.createElement("tr");
      tr.setAttribute("data-id", c.id);
      cell(tr, c.id, "mono"); cell(tr, label(c));
      var td = cell(tr, ""); var s = document.createElement("span");
      s.className = "cmd-" + c.status; s.textContent = msg("status-" + c.status, c.status); td.appendChild(s);
      cell(tr, fmt(c.created_at), "nowrap"); cell(tr, fmt(c.sent_at), "nowrap"); cell(tr, fmt(c.finished_at), "nowrap");
      cell(tr, c.created_by || "-"); cell(tr, c.error || "-", "wrap");
      body.appendChild(tr);
    });
  }
  function get(path, fn) {
    var x = new XMLHttpRequest();
    x.open("GET", path);
    x.setRequestHeader("Accept", "application/json");
    x.onload = function () { if (x.status === 200) fn(JSON.parse(x.responseText)); };
    x.send();
  }
  function tick() {
    get("/api/v1/devices/" + mac, status);
    get("/api/v1/devices/" + mac + "/commands", commands);
  }
  setInterval(tick, 3000);
})();
