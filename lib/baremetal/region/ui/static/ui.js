// baremetal's web UI: a little JavaScript, no framework.
(function () {
  // Dashboard: refresh the live part every 5 s without reloading the page.
  var live = document.getElementById("live");
  if (live) {
    setInterval(function () {
      fetch(live.dataset.refresh, {credentials: "same-origin"})
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) { if (html) { live.innerHTML = html; } });
    }, 5000);
  }
  // Machines: "this page" ticks every row; add-machine shows the chosen driver's fields.
  var page = document.getElementById("select-page");
  if (page) {
    page.addEventListener("change", function () {
      document.querySelectorAll("input.pick").forEach(function (box) { box.checked = page.checked; });
    });
  }
  var type = document.getElementById("power-type");
  if (type) {
    var show = function () {
      document.querySelectorAll(".power-fields").forEach(function (set) {
        var on = set.dataset.powerType === type.value;
        set.hidden = !on;
        set.querySelectorAll("input, select").forEach(function (el) { el.disabled = !on; });
      });
    };
    type.addEventListener("change", show);
    show();
  }
})();
