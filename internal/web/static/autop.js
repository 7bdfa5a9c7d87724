// AutoP pages (internal/web/autop.go). Everything works without this file;
// it makes the Batch AutoP page count the selection as you tick, select a
// page in place, and makes a batch's page follow its progress by itself.
// The words come from the pages' data-* attributes (the reader's language):
// a message's {n}, {max} and {over} are the figures.
(function () {
  "use strict";

  // Batch AutoP: "N selected (max 500)", counting the devices ticked on
  // this page and those carried from other pages and searches.
  var form = document.getElementById("autop-batch-form");
  if (form) {
    var max = parseInt(form.getAttribute("data-max"), 10) || 500;
    var out = document.getElementById("selected-count");
    var fill = function (msg, v) { return msg.replace(/\{(\w+)\}/g, function (m, k) { return k in v ? String(v[k]) : m; }); };
    var msgSelected = form.getAttribute("data-msg-selected") || "{n} selected (max {max})";
    var msgOver = form.getAttribute("data-msg-over") || "{n} selected (max {max}): deselect {over} to submit";
    var boxes = function () { return form.querySelectorAll('input[type=checkbox][name=sel]'); };
    var count = function () {
      var n = form.querySelectorAll('input[type=hidden][name=sel]').length;
      boxes().forEach(function (b) { if (b.checked) { n++; } });
      out.textContent = fill(n > max ? msgOver : msgSelected, {n: n, max: max, over: n - max});
      out.classList.toggle("ap-over", n > max);
    };
    form.addEventListener("change", function (e) {
      if (e.target && e.target.name === "sel") { count(); }
    });
    var all = document.getElementById("select-page");
    if (all) {
      all.addEventListener("click", function (e) {
        e.preventDefault();
        boxes().forEach(function (b) { b.checked = true; });
        count();
      });
    }
    count();
  }

  // A batch's progress: poll the API every second until every device
  // applied, failed or expired.
  var panel = document.getElementById("autop-progress");
  if (panel && panel.getAttribute("data-finished") !== "true") {
    var id = panel.getAttribute("data-batch");
    var msg = function (name, def) { var v = panel.getAttribute("data-" + name); return v === null ? def : v; };
    var set = function (elID, v) { var el = document.getElementById(elID); if (el) { el.textContent = String(v); } };
    var state = function (it) {
      switch (it.status) {
        case "queued": return [msg("label-waiting", "Waiting for device"), "ap-waiting"];
        case "sent": return it.fetched ? [msg("label-fetched", "Fetched"), "ap-fetched"] : [msg("label-told", "Told"), "ap-told"];
        case "done": return [msg("label-applied", "Applied"), "ap-applied"];
        case "failed": return [msg("label-failed", "Failed"), "ap-failed"];
      }
      return [msg("label-expired", "Expired: the device did not connect"), "ap-expired"];
    };
    var rows = {};
    document.querySelectorAll("#autop-items tr[data-mac]").forEach(function (tr) { rows[tr.getAttribute("data-mac")] = tr; });
    var poll = function () {
      fetch("/api/v1/autop/batch/" + encodeURIComponent(id), { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.json(); })
        .then(function (b) {
          set("n-told", b.sent + b.done + b.failed);
          set("n-fetched", b.fetched);
          set("n-applied", b.done);
          set("n-failed", b.failed);
          set("n-waiting", b.queued);
          set("n-expired", b.expired);
          (b.items || []).forEach(function (it) {
            var tr = rows[it.mac];
            if (!tr) { return; }
            var s = state(it);
            var span = tr.querySelector(".ap-state span");
            span.textContent = s[0];
            span.className = s[1];
            tr.querySelector(".ap-fetched").textContent = it.fetched ? msg("msg-yes", "Yes") : "-";
            tr.querySelector(".ap-version").textContent = it.version || "-";
            tr.querySelector(".ap-error").textContent = it.error || "-";
          });
          var st = document.getElementById("ap-state");
          if (b.queued === 0 && b.sent === 0) {
            panel.setAttribute("data-finished", "true");
            st.textContent = msg("msg-finished", "Finished: every device applied the configuration, failed or expired.");
            st.className = "notice";
            return;
          }
          setTimeout(poll, 1000);
        })
        .catch(function () { setTimeout(poll, 3000); });
    };
    setTimeout(poll, 1000);
  }
})();
