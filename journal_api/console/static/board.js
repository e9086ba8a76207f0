/* The live board: Server-Sent Events replace the tables' bodies. Text goes in with textContent, never as HTML. */
(function () {
  var board = document.getElementById("board");
  if (!board || !window.EventSource) return;
  var state = document.getElementById("board-state");
  var requestUrl = board.dataset.requestUrl.replace(/0$/, "");
  var newUrl = board.dataset.newUrl;
  function cell(tr, text) { var td = document.createElement("td"); td.textContent = text == null ? "" : text; tr.appendChild(td); return td; }
  function link(td, number) { td.textContent = ""; var a = document.createElement("a"); a.href = requestUrl + number; a.textContent = number; td.appendChild(a); }
  function fill(id, rows, render, empty, cols) {
    var body = document.querySelector("#" + id + " tbody");
    if (!body) return;
    body.textContent = "";
    if (!rows.length) { var tr = document.createElement("tr"); var td = cell(tr, empty); td.colSpan = cols; body.appendChild(tr); return; }
    rows.forEach(function (row) { var tr = document.createElement("tr"); render(tr, row); body.appendChild(tr); });
  }
  function request(tr, x) {
    tr.className = x.urgency;
    link(cell(tr, ""), x.number);
    cell(tr, x.registered);
    cell(tr, x.address + (x.apartment ? ", кв. " + x.apartment : ""));
    cell(tr, x.work_type);
    cell(tr, x.description).className = "desc";
    cell(tr, x.assignee || "—");
    cell(tr, x.due);
  }
  var source = new EventSource(board.dataset.stream);
  source.addEventListener("board", function (ev) {
    var snap = JSON.parse(ev.data);
    fill("calls", snap.calls, function (tr, x) {
      cell(tr, x.id); cell(tr, x.from); cell(tr, x.arrived); cell(tr, x.status);
      var td = cell(tr, "");
      if (x.request) { link(td, x.request); } else {
        var a = document.createElement("a"); a.href = newUrl + "?call=" + x.id; a.textContent = "зарегистрировать"; td.appendChild(a);
      }
      cell(tr, x.transcript).className = "desc";
    }, "Звонков нет.", 6);
    fill("new", snap["new"], request, "Новых заявок нет.", 7);
    fill("unassigned", snap.unassigned, request, "Все заявки назначены.", 7);
    fill("overdue", snap.overdue, request, "Просроченных нет.", 7);
    if (state) state.textContent = "обновлено " + new Date().toLocaleTimeString("ru-RU");
  });
  source.onerror = function () { if (state) state.textContent = "переподключение…"; };
})();
