/* Countdowns of deadlines: "осталось 2 ч 05 мин" / "просрочено на 1 д 3 ч", refreshed every 30 s. */
(function () {
  function text(ms) {
    var late = ms < 0, s = Math.floor(Math.abs(ms) / 1000);
    var d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
    var span = d ? d + " д " + h + " ч" : h + " ч " + (m < 10 ? "0" : "") + m + " мин";
    return late ? "просрочено на " + span : "осталось " + span;
  }
  function tick() {
    document.querySelectorAll(".countdown[data-due]").forEach(function (el) {
      var ms = new Date(el.dataset.due).getTime() - Date.now();
      el.textContent = text(ms);
      el.classList.toggle("late", ms < 0);
    });
  }
  tick();
  setInterval(tick, 30000);
})();
