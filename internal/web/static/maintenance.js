// Keeps a device page's status and command list current without a reload:
// polls the JSON API (the session cookie authenticates GETs) every 3 s.
(function () {
  "use strict";
  var panel = document.getElementById("remote-maintenance");
  if (!panel) return;
  var mac = panel.getAttribute("data-mac");
  var labels = {reboot: "Reboot", autop: "AutoP (fetch config)"};
  function pad(n) { return n < 10 ? "0" + n : "" + n; }
  function fmt(s) {
    if (!s) return "-";
    var d = new Date(s);
    return d.getUTCFullYear() + "-" + pad(d.getUTCMonth() + 1) + "-" + pad(d.getUTCDate()) + " " +
      pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes()) + ":" + pad(d.getUTCSeconds());
  }
  function set(id, text) { var el = document.getElementById(id); if (el) el.textContent = text || "-"; }
  function label(c) {
    if (c.kind === "reset") return c.mode === "factory" ? "Factory reset" : "Configuration reset";
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
      span.textContent = d.online ? "Online" : "Offline";
      st.appendChild(span);
    }
    set("device-last-seen", d.last_seen ? fmt(d.last_seen) + " UTC" : "never");
    set("device-ip", d.ip); set("device-model", d.model); set("device-firmware", d.firmware);
    set("device-config-version", d.config_version);
  }
  function commands(list) {
    var body = document.querySelector("#device-commands tbody");
    if (!body) return;
    body.innerHTML = "";
    if (!list.items.length) {
      var tr = document.createElement("tr"); tr.className = "none";
      var td = cell(tr, "No commands yet.", "empty"); td.colSpan = 8;
      body.appendChild(tr);
      return;
    }
    list.items.slice(0, 20).forEach(function (c) {
      var tr = document.createElement("tr");
      tr.setAttribute("data-id", c.id);
      cell(tr, c.id, "mono"); cell(tr, label(c));
      var td = cell(tr, ""); var s = document.createElement("span");
      s.className = "cmd-" + c.status; s.textContent = c.status; td.appendChild(s);
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
