// Live badges for the admin panel (progressive enhancement: the pages work without it).
// Every few seconds it asks /admin/api/status and updates each element that carries
// data-location-id and data-status (the badge) and the row's last-seen and outage cells.
(function () {
  "use strict";
  var PERIOD_MS = 3000;
  function update(items) {
    items.forEach(function (it) {
      var id = String(it.id);
      document.querySelectorAll('.badge[data-location-id="' + id + '"]').forEach(function (b) {
        if (b.getAttribute("data-status") !== it.status) {
          b.setAttribute("data-status", it.status);
          b.textContent = it.label;
        }
      });
      var row = document.getElementById("location-" + id);
      if (row) {
        var seen = row.querySelector('[data-field="last-seen"]');
        if (seen) { seen.textContent = it.last_seen; }
        var off = row.querySelector('[data-field="outage-for"]');
        if (off) { off.textContent = it.outage_for; }
      }
    });
  }
  function poll() {
    if (!document.querySelector(".badge[data-location-id]")) { return; }
    fetch("/admin/api/status", { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (items) { if (items) { update(items); } })
      .catch(function () {});
  }
  document.addEventListener("DOMContentLoaded", function () {
    poll();
    setInterval(poll, PERIOD_MS);
  });
})();
