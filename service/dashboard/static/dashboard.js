// Draws the page's figures (JSON in <script type="application/json" id="data-NAME">) with the bundled plotly.js,
// marks a submitted form's button as working while the server solves, and shows a notice when the park's stream
// (/live, server-sent events) brings a new plan or alert.
(function () {
  "use strict";
  function draw() {
    document.querySelectorAll("[data-figure]").forEach(function (div) {
      var source = document.getElementById("data-" + div.dataset.figure);
      if (!source || !window.Plotly) { return; }
      var figure = JSON.parse(source.textContent);
      window.Plotly.newPlot(div, figure.data, figure.layout, {
        displaylogo: false, responsive: true, showLink: false, showSendToCloud: false,
        modeBarButtonsToRemove: ["select2d", "lasso2d", "sendDataToCloud"]
      }).then(function () { div.dataset.drawn = "true"; });
    });
  }
  document.addEventListener("submit", function (event) {
    var button = event.target.querySelector("button[data-working]");
    if (button) {
      button.dataset.label = button.textContent;
      button.textContent = button.dataset.working;
      setTimeout(function () { button.disabled = true; }, 0);
    }
  });
  var LIVE_LABELS = {"plan.created": "planCreated", "alert.opened": "alertOpened",
                     "alert.acknowledged": "alertAcknowledged", "alert.resolved": "alertResolved"};
  function live() {
    var box = document.getElementById("live-notice");
    if (!box || !window.EventSource) { return; }
    var source = new EventSource(box.dataset.live);  // reconnects by itself, with Last-Event-ID
    source.addEventListener("open", function () { box.dataset.stream = "open"; });
    source.addEventListener("error", function () { box.dataset.stream = "reconnecting"; });
    Object.keys(LIVE_LABELS).forEach(function (kind) {
      source.addEventListener(kind, function (message) {
        var event = JSON.parse(message.data);
        var data = event.data || {};
        box.querySelector(".live-text").textContent = box.dataset[LIVE_LABELS[kind]]
          .replace("{id}", data.plan_id === undefined ? "" : data.plan_id).replace("{date}", data.date || "");
        box.dataset.kind = kind;
        box.dataset.eventId = event.id;
        box.hidden = false;
      });
    });
    box.querySelector(".live-dismiss").addEventListener("click", function () { box.hidden = true; });
  }
  function start() { draw(); live(); }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
