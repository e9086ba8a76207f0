/* The live board: Server-Sent Events replace the tables' bodies. Text goes in with textContent, never as HTML.
   Every Russian text comes from the page's data-* attributes (board.html).
   A stream that ends normally (every STREAM_FOR seconds, or at once for a board beyond the server's stream cap,
   which then polls) is reopened by the browser itself: "переподключение…". A stream the browser closes for good
   (a 401 once the shift's session has expired, a proxy's 502 during a restart) would freeze the board in silence:
   the board says so, asks the server once more, and reloads the page (the sign-in form when the session expired);
   while the server does not answer at all, it keeps the last data, says so and asks again. */
(function () {
  var board = document.getElementById("board");
  if (!board || !window.EventSource) return;
  var state = document.getElementById("board-state");
  var say = board.dataset;
  var CHECK_AFTER_MS = 5000, RELOAD_AFTER_MS = 2000, RETRY_AFTER_MS = 10000;
  function status(text, alarm) { if (state) { state.textContent = text; state.className = alarm ? "badge emergency" : "muted"; } }
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
    cell(tr, x.address + (x.apartment ? say.apartment + x.apartment : ""));
    cell(tr, x.work_type);
    cell(tr, x.description).className = "desc";
    cell(tr, x.assignee || "—");
    cell(tr, x.due);
  }
  var csrf = board.dataset.csrf;
  var incidentUrl = board.dataset.incidentUrl.replace(/0$/, "");
  var callbackUrl = board.dataset.callbackUrl.replace(/0\/done$/, "");
  var audioUrl = board.dataset.audioUrl.replace(/0\/audio$/, "");
  function texts(id) { var el = document.getElementById(id); return el ? el.dataset : {}; }
  function anchor(td, href, text) { var a = document.createElement("a"); a.href = href; a.textContent = text; td.appendChild(a); return a; }
  function post(td, action, text) {
    var form = document.createElement("form"); form.className = "inline"; form.method = "post"; form.action = action;
    var token = document.createElement("input"); token.type = "hidden"; token.name = "csrf_token"; token.value = csrf;
    var button = document.createElement("button"); button.type = "submit"; button.textContent = text;
    form.appendChild(token); form.appendChild(button); td.appendChild(form); td.appendChild(document.createTextNode(" "));
  }
  function small(td, text, cls) { td.appendChild(document.createElement("br")); var s = document.createElement("small"); s.textContent = text; if (cls) s.className = cls; td.appendChild(s); }
  function incident(tr, x) {
    var t = texts("incidents");
    tr.className = "incident " + x.status; tr.dataset.id = x.id;
    anchor(cell(tr, ""), incidentUrl + x.id, x.id);
    var st = cell(tr, ""); var badge = document.createElement("span"); badge.className = "badge " + x.status; badge.textContent = x.status_text; st.appendChild(badge);
    if (x.auto) { var auto = document.createElement("small"); auto.className = "muted"; auto.textContent = " " + t.auto; st.appendChild(auto); }
    cell(tr, x.place + " (" + x.scope + ")");
    cell(tr, x.work_type); cell(tr, x.count); cell(tr, x.since);
    var told = cell(tr, x.status === "open" ? x.announce : t.notTold); told.className = "desc";
    if (x.eta) small(told, t.eta + x.eta);
    if (x.note) small(told, t.note + x.note, "muted");
    var acts = cell(tr, ""); acts.className = "actions";
    if (x.status === "proposed") { post(acts, incidentUrl + x.id + "/open", t.confirm); post(acts, incidentUrl + x.id + "/dismiss", t.dismiss); }
    else { post(acts, incidentUrl + x.id + "/close", t.close); }
    anchor(acts, incidentUrl + x.id, t.more);
  }
  function callback(tr, x) {
    var t = texts("callbacks");
    if (x.late) tr.className = "late";
    cell(tr, x.id);
    var from = cell(tr, x.tel ? "" : x.from); if (x.tel) anchor(from, "tel:" + x.tel, x.from);
    cell(tr, x.arrived); cell(tr, x.reason); cell(tr, x.due);
    var req = cell(tr, "");
    if (x.request) { link(req, x.request); } else { anchor(req, newUrl + "?call=" + x.id, t.register); }
    var msg = cell(tr, ""); if (x.voicemail) anchor(msg, audioUrl + x.voicemail + "/audio", t.listen);
    post(cell(tr, ""), callbackUrl + x.id + "/done", t.done);
  }
  var source = new EventSource(board.dataset.stream);
  source.addEventListener("board", function (ev) {
    var snap = JSON.parse(ev.data);
    fill("incidents", snap.incidents || [], incident, texts("incidents").empty, 8);
    fill("callbacks", snap.callbacks || [], callback, texts("callbacks").empty, 8);
    fill("calls", snap.calls, function (tr, x) {
      cell(tr, x.id); cell(tr, x.from); cell(tr, x.arrived); cell(tr, x.status);
      var td = cell(tr, "");
      if (x.request) { link(td, x.request); } else { anchor(td, newUrl + "?call=" + x.id, texts("calls").register); }
      cell(tr, x.transcript).className = "desc";
    }, texts("calls").empty, 6);
    fill("new", snap["new"], request, say.emptyNew, 7);
    fill("unassigned", snap.unassigned, request, say.emptyUnassigned, 7);
    fill("overdue", snap.overdue, request, say.emptyOverdue, 7);
    status(say.updated + new Date().toLocaleTimeString("ru-RU"), false);
  });
  function check() {
    if (!window.fetch) { location.reload(); return; }
    fetch(board.dataset.stream + "?once=1", { credentials: "same-origin", cache: "no-store" }).then(function (answer) {
      if (answer.status === 401) { status(say.expired, true); setTimeout(function () { location.reload(); }, RELOAD_AFTER_MS); }
      else if (answer.status >= 500) { status(say.offline, true); setTimeout(check, RETRY_AFTER_MS); }
      else { location.reload(); }
    }, function () { status(say.offline, true); setTimeout(check, RETRY_AFTER_MS); });
  }
  source.onerror = function () {
    if (source.readyState !== EventSource.CLOSED) { status(say.reconnecting, false); return; }
    status(say.closed, true);
    setTimeout(check, CHECK_AFTER_MS);
  };
})();
