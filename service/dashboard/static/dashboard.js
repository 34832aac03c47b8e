// Draws the page's figures (JSON in <script type="application/json" id="data-NAME">) with the bundled plotly.js,
// and marks a submitted form's button as working while the server solves.
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
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
