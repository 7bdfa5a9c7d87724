// Rollout pages (internal/web/rollouts.go). Everything works without this
// file; it draws the progress bars and makes a rollout's page follow its
// progress by itself: it polls /rollouts/{id}/progress every 2 s while the
// rollout may change, and updates the counts, the waves and the devices
// shown in place. Its words come in the reader's language: the states'
// labels with the progress (state_labels) and on the bars (data-label),
// the rest in the page's data-msg-* attributes; numbers in the page's
// language (<html lang>).
(function () {
  "use strict";

  var labels = {}; // state → label, from the progress
  var states = ["draft", "pending", "queued", "sent", "downloading", "verifying", "installing", "rebooting", "done", "failed", "canceled", "skipped"];
  var ended = { done: true, failed: true, canceled: true, skipped: true };
  var open = { pending: true, queued: true, sent: true, downloading: true, verifying: true, installing: true, rebooting: true };
  var numbers = null;
  try { numbers = new Intl.NumberFormat(document.documentElement.lang || "en"); } catch (e) { numbers = null; }
  var fmt = function (n) { return numbers ? numbers.format(n) : String(n); };
  var label = function (s) { return labels[s] || s; };

  // A bar's segments take their share of the total (data-n of data-total).
  var draw = function (seg) {
    var n = parseInt(seg.getAttribute("data-n"), 10) || 0;
    var total = parseInt(seg.getAttribute("data-total"), 10) || 0;
    seg.style.width = total > 0 ? (n * 100 / total) + "%" : "0";
    seg.title = (seg.getAttribute("data-label") || label(seg.getAttribute("data-state"))) + ": " + fmt(n);
  };
  var setBar = function (bar, byState, total) {
    if (!bar) { return; }
    bar.querySelectorAll(".ro-seg").forEach(function (seg) {
      seg.setAttribute("data-n", String(byState[seg.getAttribute("data-state")] || 0));
      seg.setAttribute("data-total", String(total));
      draw(seg);
    });
  };
  document.querySelectorAll(".ro-seg").forEach(draw);
  window.requestAnimationFrame(function () { document.body.classList.add("ro-animate"); });

  // A device's page: its running upgrade follows the device until it ends.
  var running = document.getElementById("running-upgrade");
  if (running && running.getAttribute("data-progress")) { // none for a rollout of an account above
    var follow = function () {
      fetch(running.getAttribute("data-progress"), { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.json(); })
        .then(function (p) {
          var id = parseInt(running.getAttribute("data-upgrade"), 10);
          labels = p.state_labels || labels;
          var u = (p.devices || []).filter(function (d) { return d.id === id; })[0];
          if (!u) { return; }
          var pill = document.getElementById("running-state");
          pill.className = "ro-pill st-" + u.state;
          pill.textContent = label(u.state) + (u.state === "downloading" ? " " + u.percent + "%" : "") +
            (u.state === "failed" && u.error ? ": " + u.error : "");
          var bar = document.getElementById("running-percent");
          bar.value = u.percent;
          bar.hidden = u.state !== "downloading";
          if (open[u.state]) { setTimeout(follow, 2000); }
        })
        .catch(function () { setTimeout(follow, 5000); });
    };
    setTimeout(follow, 2000);
  }

  var page = document.getElementById("rollout");
  if (!page || page.getAttribute("data-live") !== "true") { return; }
  var url = page.getAttribute("data-progress");
  var status = page.getAttribute("data-status");
  var text = function (el, v) { if (el) { el.textContent = v; } };
  var msg = function (name) { return page.getAttribute("data-msg-" + name) || ""; };

  var update = function (p) {
    if (p.status !== status) {
      // The buttons a status offers are the server's to draw.
      window.location.reload();
      return;
    }
    labels = p.state_labels || labels;
    var by = p.by_state || {};
    setBar(document.getElementById("overall-bar"), by, p.total);
    text(document.getElementById("overall-percent"), p.percent + "%");
    text(document.getElementById("overall-ended"), fmt(p.ended));
    text(document.getElementById("overall-total"), fmt(p.total));
    states.forEach(function (s) {
      var n = by[s] || 0;
      text(document.getElementById("n-" + s), fmt(n));
      var li = document.querySelector('#state-counts li[data-state="' + s + '"]');
      if (li) { li.classList.toggle("ro-zero", n === 0); }
    });
    var reason = document.getElementById("pause-reason");
    if (reason) {
      reason.hidden = !p.pause_reason;
      text(document.getElementById("pause-reason-text"), p.pause_reason || "");
    }
    (p.by_wave || []).forEach(function (w) {
      var tr = document.querySelector('#waves tr[data-wave="' + w.wave + '"]');
      if (!tr) { return; }
      var wb = w.by_state || {};
      setBar(tr.querySelector(".ro-bar"), wb, w.total);
      var over = 0, active = 0;
      Object.keys(wb).forEach(function (s) {
        if (ended[s]) { over += wb[s]; } else if (open[s] && s !== "pending") { active += wb[s]; }
      });
      text(tr.querySelector(".w-done"), fmt(wb.done || 0));
      var failed = tr.querySelector(".w-failed");
      text(failed, fmt(wb.failed || 0));
      if (failed) { failed.classList.toggle("ro-bad", (wb.failed || 0) > 0); }
      text(tr.querySelector(".w-state"), msg(w.total > 0 && over === w.total ? "finished" : (active > 0 || over > 0 ? "in-progress" : "not-started")));
    });
    (p.devices || []).forEach(function (u) {
      var tr = document.querySelector('#rollout-devices tr[data-upgrade="' + u.id + '"]');
      if (!tr) { return; }
      var cell = tr.querySelector(".u-state");
      if (cell) {
        cell.textContent = "";
        var pill = document.createElement("span");
        pill.className = "ro-pill st-" + u.state;
        pill.textContent = label(u.state);
        cell.appendChild(pill);
        if (u.state === "downloading") {
          var pct = document.createElement("span");
          pct.className = "u-pct";
          pct.textContent = " " + u.percent + "%";
          cell.appendChild(pct);
        }
      }
      text(tr.querySelector(".u-attempts"), String(u.attempts));
      text(tr.querySelector(".u-error"), u.error || "-");
      if (u.updated_at) {
        var up = tr.querySelector(".u-updated");
        if (up && up.getAttribute("data-at") !== u.updated_at) {
          up.setAttribute("data-at", u.updated_at);
          up.textContent = msg("just-now");
        }
      }
    });
    page.setAttribute("data-live", p.live ? "true" : "false");
    if (p.live) { setTimeout(poll, 2000); }
  };
  var poll = function () {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.json(); })
      .then(update)
      .catch(function () { setTimeout(poll, 5000); });
  };
  setTimeout(poll, 2000);
})();
