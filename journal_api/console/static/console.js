/* Countdowns of deadlines: "осталось 2 ч 05 мин" / "просрочено на 1 д 3 ч", refreshed every 30 s. The words come
   from the script element's data-* attributes (_console_script.html); without them the server's text stays. */
(function () {
  var say = document.currentScript ? document.currentScript.dataset : {};
  if (!say.days || !say.hours || !say.late || !say.left) return;
  function text(ms) {
    var late = ms < 0, s = Math.floor(Math.abs(ms) / 1000);
    var d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
    var span = d ? say.days.replace("{days}", d).replace("{hours}", h)
                 : say.hours.replace("{hours}", h).replace("{minutes}", (m < 10 ? "0" : "") + m);
    return (late ? say.late : say.left).replace("{span}", span);
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
