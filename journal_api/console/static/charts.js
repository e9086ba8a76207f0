/* The analytics' charts (Chart.js, bundled in vendor/: no CDN). The datasets' names come from the canvases' data-*
   attributes (analytics.html). */
(function () {
  var node = document.getElementById("chart-data");
  if (!node || !window.Chart) return;
  var data = JSON.parse(node.textContent);
  Chart.defaults.animation = false;
  function say(id) { var el = document.getElementById(id); return el ? el.dataset : {}; }
  function bar(id, labels, datasets, stacked) {
    var el = document.getElementById(id);
    if (!el) return;
    new Chart(el, { type: "bar", data: { labels: labels, datasets: datasets },
      options: { plugins: { legend: { display: datasets.length > 1 } },
                 scales: { x: { stacked: !!stacked }, y: { stacked: !!stacked, beginAtZero: true } } } });
  }
  bar("chart-day", data.by_day.labels, [{ label: say("chart-day").label, data: data.by_day.values, backgroundColor: "#0b5cad" }]);
  bar("chart-hour", data.by_hour.labels, [{ label: say("chart-hour").label, data: data.by_hour.values, backgroundColor: "#5c8fd6" }]);
  var el = document.getElementById("chart-channel");
  if (el) new Chart(el, { type: "doughnut", data: { labels: data.by_channel.labels,
    datasets: [{ data: data.by_channel.values, backgroundColor: ["#0b5cad", "#2e7d32", "#e65100", "#6d4c41", "#8e24aa"] }] },
    options: { aspectRatio: 2 } });
  bar("chart-load", data.load.labels, [
    { label: say("chart-load").total, data: data.load.values, backgroundColor: "#0b5cad" },
    { label: say("chart-load").late, data: data.load.late, backgroundColor: "#c62828" }]);
})();
