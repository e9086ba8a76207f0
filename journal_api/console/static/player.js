/* The audio player synchronised to the transcript: the word being spoken is highlighted; a click on a word seeks. */
(function () {
  document.querySelectorAll(".recording").forEach(function (box) {
    var audio = box.querySelector("audio.player");
    var words = Array.prototype.slice.call(box.querySelectorAll(".transcript .w"));
    if (!audio || !words.length) return;
    var spans = words.map(function (w) {
      return { el: w, start: parseFloat(w.dataset.start), end: parseFloat(w.dataset.end) };
    });
    var current = null;
    function find(t) {  // binary search over the word starts
      var lo = 0, hi = spans.length - 1, found = null;
      while (lo <= hi) {
        var mid = (lo + hi) >> 1;
        if (spans[mid].start <= t) { found = spans[mid]; lo = mid + 1; } else { hi = mid - 1; }
      }
      return found && t <= found.end + 0.3 ? found : null;
    }
    function update() {
      var next = find(audio.currentTime);
      if (next !== current) {
        if (current) current.el.classList.remove("current");
        if (next) next.el.classList.add("current");
        current = next;
      }
    }
    function loop() { update(); if (!audio.paused) requestAnimationFrame(loop); }
    audio.addEventListener("play", function () { requestAnimationFrame(loop); });
    audio.addEventListener("timeupdate", update);
    audio.addEventListener("seeked", update);
    spans.forEach(function (s) {
      s.el.addEventListener("click", function () {
        audio.currentTime = s.start;
        update();
        var p = audio.play();
        if (p && p.catch) p.catch(function () {});
      });
    });
  });
})();
