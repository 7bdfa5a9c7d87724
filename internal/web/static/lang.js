// The language switcher changes language as soon as one is picked.
document.querySelectorAll("select[data-autosubmit]").forEach(function (s) {
  s.addEventListener("change", function () { s.form.submit(); });
  var b = s.form.querySelector("button");
  if (b) b.style.display = "none"; // with script, picking is enough
});
