/* The request forms' reason: the text field is for a reason that is not in the list, so it is shown only while
   "другая причина (текстом)" is chosen. Without JavaScript both fields stay visible and a chosen reason wins. */
(function () {
  document.querySelectorAll("select.reason-choice").forEach(function (select) {
    var text = select.form && select.form.querySelector(".reason-text");
    if (!text) return;
    function sync() { text.style.display = select.value === "" ? "" : "none"; }
    select.addEventListener("change", sync);
    sync();
  });
})();
