// Asks before a form acts: a form (or its submit button) with
// data-confirm="Question?" is submitted only when the person confirms.
// A static script, because the portal's Content-Security-Policy
// (default-src 'self') blocks inline handlers such as onsubmit="…".
(function () {
  "use strict";
  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    var b = ev.submitter;
    var msg = (b && b.getAttribute("data-confirm")) || (form && form.getAttribute && form.getAttribute("data-confirm"));
    if (msg && !window.confirm(msg)) {
      ev.preventDefault();
      ev.stopImmediatePropagation();
    }
  }, true);
  document.addEventListener("click", function (ev) {
    var a = ev.target && ev.target.closest ? ev.target.closest("a[data-confirm]") : null;
    if (a && !window.confirm(a.getAttribute("data-confirm"))) {
      ev.preventDefault();
      ev.stopImmediatePropagation();
    }
  }, true);
})();
