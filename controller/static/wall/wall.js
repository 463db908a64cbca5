// The display wall of a chamber hall.
//
// Job: hold the daemon's wall view (the stream's snapshot with `view=wall`, then its numbered
// patches, applied with applyPatch from patch.js) and draw it for a 1920x1080 wall read from
// the back of the hall. Everything the wall shows is decided by the daemon, the vote to show
// (`vote`) included; this page only draws. After a reconnect the stream resumes with
// `since=` the last sequence number, so nothing is missed and nothing has to be re-read; a
// patch that does not follow or does not fit makes the page reconnect for a fresh snapshot.
//
// Never: load anything from outside the daemon, show a seat's choice in a secret vote (the
// daemon never sends one), or count down from the browser's date: the daemon's clock is
// monotonic, so times are carried over from the daemon's own clock (each message's `clock`)
// with `performance.now()`.
"use strict";

(function () {
  const params = new URLSearchParams(location.search);
  const TOKEN = params.get("token") || "";
  // The API takes the token in a header; only the stream takes it in its URL (a browser's
  // WebSocket cannot send a header).
  const API_INIT = { cache: "no-store", headers: { Authorization: `Bearer ${TOKEN}` } };

  const TEXT = {
    vi: {
      noSitting: "Chưa khai mạc phiên họp",
      item: (n, m) => `Nội dung ${n}/${m}`,
      state: {
        prepared: "Chuẩn bị biểu quyết",
        open: "Đang biểu quyết",
        hold: "Tạm dừng biểu quyết",
        closed: "Kết quả biểu quyết",
        published: "Kết quả biểu quyết",
        cancelled: "Đã hủy biểu quyết",
        annulled: "Đã hủy kết quả biểu quyết",
      },
      practice: "Biểu quyết thử",
      mode: { open: "Biểu quyết công khai", secret: "Bỏ phiếu kín", "roll-call": "Biểu quyết lần lượt" },
      voted: (v, n) => `Đã biểu quyết: ${v}/${n}`,
      adopted: "THÔNG QUA",
      rejected: "KHÔNG THÔNG QUA",
      didNotVote: "Không tham gia biểu quyết",
      hiddenTotals: "Kết quả được công bố khi kết thúc biểu quyết",
      secretSeats: "Bỏ phiếu kín: không hiển thị lựa chọn của từng đại biểu",
      speaking: "Đang phát biểu",
      waiting: "Đăng ký phát biểu",
      nobody: "Chưa có đại biểu phát biểu",
      noneWaiting: "Chưa có đại biểu đăng ký",
      lists: { speak: "Phát biểu", question: "Chất vấn", reply: "Tranh luận" },
      overtime: "Quá giờ",
      noLimit: "Không giới hạn thời gian",
      present: (p, m) => `Có mặt: ${p}/${m} đại biểu`,
      quorate: "Đủ số đại biểu để biểu quyết",
      notQuorate: (n) => `Chưa đủ số đại biểu (cần ${n})`,
      seat: "Ghế",
      notVoted: "Chưa biểu quyết",
      absent: "Vắng mặt",
      connecting: "Đang kết nối…",
      reconnecting: "Mất kết nối, đang kết nối lại…",
      more: (n) => `và ${n} đại biểu khác`,
    },
    en: {
      noSitting: "No sitting is open",
      item: (n, m) => `Item ${n} of ${m}`,
      state: {
        prepared: "Vote to come",
        open: "Voting",
        hold: "Vote on hold",
        closed: "Result",
        published: "Result",
        cancelled: "Vote cancelled",
        annulled: "Result annulled",
      },
      practice: "Practice vote",
      mode: { open: "Open vote", secret: "Secret ballot", "roll-call": "Roll-call vote" },
      voted: (v, n) => `Voted: ${v} of ${n}`,
      adopted: "ADOPTED",
      rejected: "NOT ADOPTED",
      didNotVote: "Did not vote",
      hiddenTotals: "The totals are shown when the vote closes",
      secretSeats: "Secret ballot: no seat's choice is shown",
      speaking: "Speaking",
      waiting: "Waiting to speak",
      nobody: "Nobody has the floor",
      noneWaiting: "Nobody is waiting",
      lists: { speak: "Speech", question: "Question", reply: "Reply" },
      overtime: "Overtime",
      noLimit: "No time limit",
      present: (p, m) => `Present: ${p} of ${m} members`,
      quorate: "Quorum reached",
      notQuorate: (n) => `No quorum (${n} needed)`,
      seat: "Seat",
      notVoted: "Not voted yet",
      absent: "Absent",
      connecting: "Connecting…",
      reconnecting: "Connection lost, reconnecting…",
      more: (n) => `and ${n} more`,
    },
  };

  // --- the mirror ---------------------------------------------------------------------------

  let streamId = ""; // the daemon's stream: a restarted daemon numbers its messages anew
  let mirror = null; // the daemon's wall view, as the snapshot and the patches leave it
  let seq = null; // the number of the last message applied to the mirror
  let hall = null; // GET /api/hall: names and the seating chart
  let names = new Map(); // delegate id -> name
  let socket = null;
  let backoff = 250;
  let everConnected = false;

  // Daemon time, carried forward with the browser's monotonic clock. Anchored on each
  // message's `clock` (the daemon's time when it was made).
  let anchor = null; // {daemon: seconds, perf: milliseconds}
  function daemonNow() {
    if (anchor === null) return null;
    return anchor.daemon + (performance.now() - anchor.perf) / 1000;
  }
  function seeDaemonTime(t) {
    if (typeof t !== "number" || !isFinite(t)) return;
    const now = daemonNow();
    if (now === null || t > now) anchor = { daemon: t, perf: performance.now() };
  }

  // `fresh`: a new stream, perhaps from a restarted daemon whose clock starts elsewhere.
  function applySnapshot(message, fresh) {
    mirror = message.state || {};
    seq = message.seq;
    if (fresh) anchor = null;
    seeDaemonTime(typeof message.clock === "number" ? message.clock : mirror.now);
  }

  // False when the patch cannot be applied to what the page holds: the page then reconnects.
  function applyPatchMessage(message) {
    if (seq !== null && message.seq <= seq) return true; // already in the mirror
    if (mirror === null || seq === null || message.prev > seq) return false; // one missing
    try {
      mirror = applyPatch(mirror, message.ops || []);
    } catch (err) {
      mirror = null; // half changed: only a fresh snapshot will do
      seq = null;
      return false;
    }
    seq = message.seq;
    seeDaemonTime(message.clock);
    return true;
  }

  // --- the live stream ------------------------------------------------------------------------

  function connect() {
    const proto = location.protocol === "https:" ? "wss" : "ws";
    let url = `${proto}://${location.host}/api/stream?view=wall&token=${encodeURIComponent(TOKEN)}`;
    if (seq !== null) url += `&since=${seq}&stream=${encodeURIComponent(streamId)}`;
    socket = new WebSocket(url);
    socket.onopen = () => {
      backoff = 250;
      everConnected = true;
      document.body.dataset.connected = "true";
      renderLink();
    };
    socket.onmessage = (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch (err) {
        return;
      }
      if (message.type === "snapshot") {
        streamId = message.stream || "";
        applySnapshot(message, true);
      } else if (message.type === "patch") {
        if (!applyPatchMessage(message)) {
          socket.close(); // reconnect: after `seq`, or afresh
          return;
        }
      } else return;
      document.body.dataset.seq = String(seq);
      render();
    };
    socket.onclose = () => {
      socket = null;
      document.body.dataset.connected = "false";
      renderLink();
      setTimeout(connect, backoff);
      backoff = Math.min(backoff * 2, 5000);
    };
  }

  function loadHall() {
    fetch("/api/hall", API_INIT)
      .then((r) => (r.ok ? r.json() : Promise.reject(new Error(`HTTP ${r.status}`))))
      .then((h) => {
        hall = h;
        names = new Map((h.delegates || []).map((d) => [d.id, d.name]));
        seatLayout = null;
        render();
      })
      .catch(() => setTimeout(loadHall, 2000));
  }

  // --- drawing --------------------------------------------------------------------------------

  const $ = (id) => document.getElementById(id);

  function language() {
    const wanted = params.get("lang");
    if (wanted && TEXT[wanted]) return wanted;
    const configured = (mirror && mirror.hall && mirror.hall.language) || (hall && hall.language);
    return TEXT[configured] ? configured : "vi";
  }

  function setText(el, text) {
    if (el.textContent !== text) el.textContent = text;
  }

  function show(el, visible) {
    if (el.hidden === visible) el.hidden = !visible;
  }

  function clock(seconds) {
    const s = Math.max(0, Math.ceil(seconds));
    const m = Math.floor(s / 60);
    return `${m}:${String(s % 60).padStart(2, "0")}`;
  }

  // The vote the wall shows, as the daemon chose it (controller/core/view.py).
  function currentVote() {
    return mirror ? mirror.vote || null : null;
  }

  function delegateName(id, seat, t) {
    return names.get(id) || `${t.seat} ${seat}`;
  }

  let renderQueued = false;
  function render() {
    if (renderQueued) return;
    renderQueued = true;
    // One drawing per burst of messages, still before the browser paints.
    queueMicrotask(() => {
      renderQueued = false;
      draw();
    });
  }

  function draw() {
    const t = TEXT[language()];
    document.documentElement.lang = language();
    renderLink();
    if (!mirror) return;
    const h = mirror.hall || hall || {};
    setText($("body-name"), h.name || "");
    document.title = h.short_name || h.name || "chamber";
    const sitting = mirror.sitting || {};
    setText($("sitting-title"), sitting.sitting_id ? sitting.title : t.noSitting);
    const agenda = sitting.agenda || [];
    const index = agenda.findIndex((a) => a.id === sitting.current_item);
    setText($("item-number"), index >= 0 ? t.item(index + 1, agenda.length) : "");
    setText($("item-title"), index >= 0 ? agenda[index].title : "");

    const vote = currentVote();
    document.body.classList.toggle("no-vote", !vote);
    document.body.classList.toggle("with-vote", !!vote);
    drawVote(vote, t);
    drawSeats(vote, t);
    drawFloor(t);
    drawAttendance(t);
    tick();
    fitAll();
  }

  function drawVote(vote, t) {
    const panel = $("vote-panel");
    show(panel, !!vote);
    if (!vote) return;
    const secret = vote.mode === "secret";
    panel.dataset.vote = vote.vote_id;
    panel.dataset.state = vote.state;
    // A practice vote says so first; it decides nothing (the wall view's `show.practice`).
    const status = t.state[vote.state] || vote.state;
    setText($("vote-status"), (mirror.show || {}).practice ? `${t.practice}: ${status}` : status);
    setText($("vote-mode"), t.mode[vote.mode] || vote.mode);
    $("vote-mode").classList.toggle("secret", secret);
    setText($("vote-title"), vote.title || "");

    // How to show it, as the daemon decided (the wall view's `show`, docs/stream.md).
    const how = mirror.show || {};
    const result = how.decided ? vote.result : null;
    const tally = vote.tally || {};
    show($("vote-live"), !!how.live);
    const prepared = vote.state === "prepared";
    setText($("voted"), prepared ? "" : t.voted(tally.voted || 0, how.electorate || 0));

    const options = vote.options || [];
    const counts = Array.isArray(how.counts) ? how.counts : null;
    const hidden = !!how.totals_hidden;
    show($("totals-hidden"), hidden);
    setText($("totals-hidden"), hidden ? t.hiddenTotals : "");
    drawTotals(options, counts);

    const res = $("result");
    if (result) {
      const adopted = !!(result.outcome && result.outcome.adopted);
      res.dataset.vote = vote.vote_id;
      res.dataset.adopted = String(adopted);
      setText($("verdict"), adopted ? t.adopted : t.rejected);
      $("verdict").className = adopted ? "adopted" : "rejected";
      setText($("did-not-vote"), `${t.didNotVote}: ${result.did_not_vote}`);
      setText($("explanation"), (result.outcome && result.outcome.explanation) || "");
    } else {
      delete res.dataset.vote;
      delete res.dataset.adopted;
    }
    show(res, !!result);
    show($("did-not-vote"), !!result);
    show($("explanation"), !!result);
  }

  function drawTotals(options, counts) {
    const body = $("totals").tBodies[0];
    show($("totals"), counts !== null);
    if (counts === null) {
      body.replaceChildren();
      return;
    }
    const max = Math.max(1, ...counts);
    while (body.rows.length > options.length) body.deleteRow(-1);
    while (body.rows.length < options.length) {
      const row = body.insertRow();
      row.insertCell().className = "label";
      const bar = row.insertCell();
      bar.className = "bar";
      bar.appendChild(document.createElement("div"));
      row.insertCell().className = "count";
    }
    options.forEach((label, i) => {
      const row = body.rows[i];
      row.className = `key-${i + 1}`;
      row.dataset.key = String(i + 1);
      setText(row.cells[0], label);
      row.cells[1].firstChild.style.width = `${(100 * (counts[i] || 0)) / max}%`;
      setText(row.cells[2], String(counts[i] || 0));
    });
  }

  let seatLayout = null; // {cols, rows, cells: Map(seat -> element)}

  function buildSeatMap() {
    const map = $("seatmap");
    map.replaceChildren();
    const voting = new Set((hall.delegates || []).filter((d) => d.voting).map((d) => d.id));
    const seats = (hall.seats || []).filter((s) => s.delegate && voting.has(s.delegate));
    const rows = new Map();
    seats.forEach((s) => rows.set(s.row, true));
    const rowOrder = Array.from(rows.keys()).sort((a, b) => a - b);
    const colOrder = Array.from(new Set(seats.map((s) => s.col))).sort((a, b) => a - b);
    map.style.gridTemplateColumns = `repeat(${colOrder.length}, 1fr)`;
    map.style.gridTemplateRows = `repeat(${rowOrder.length}, 1fr)`;
    const cells = new Map();
    for (const s of seats) {
      const el = document.createElement("div");
      el.className = "seat";
      el.style.gridRow = String(rowOrder.indexOf(s.row) + 1);
      el.style.gridColumn = String(colOrder.indexOf(s.col) + 1);
      el.textContent = String(s.number);
      map.appendChild(el);
      cells.set(s.number, el);
    }
    seatLayout = { cells };
  }

  function drawSeats(vote, t) {
    const panel = $("seats-panel");
    const how = (mirror && mirror.show) || {};
    const withMap = !!vote && !!how.seat_map;
    show(panel, withMap);
    if (!withMap) return;
    const secret = vote.mode === "secret";
    // A secret vote shows no seat at all: the daemon holds no seat's choice to show.
    show($("secret-note"), secret);
    show($("seatmap"), !secret && !!hall);
    show($("seat-legend"), !secret);
    setText($("secret-note"), secret ? t.secretSeats : "");
    if (secret || !hall) {
      if (secret) $("seatmap").replaceChildren();
      seatLayout = secret ? null : seatLayout;
      return;
    }
    if (seatLayout === null) buildSeatMap();
    const choices = how.choices || [];
    const key = new Map(choices.map((c) => [c.seat, c.key]));
    const present = new Set(((mirror.attendance || {}).present_seats) || []);
    // Once decided, the seats of the electorate that did not vote: "Không tham gia".
    const didNotVote = new Set(how.did_not_vote || []);
    for (const [seat, el] of seatLayout.cells) {
      const k = key.get(seat);
      let cls = "seat";
      if (k !== undefined) {
        cls += ` key-${k}`;
        el.dataset.key = String(k);
      } else if (didNotVote.has(seat)) {
        cls += " did-not-vote";
        delete el.dataset.key;
      } else {
        cls += present.has(seat) ? " present" : " absent";
        delete el.dataset.key;
      }
      if (vote.calling === seat) cls += " calling";
      if (el.className !== cls) el.className = cls;
    }
    drawLegend(vote, t);
  }

  function drawLegend(vote, t) {
    const legend = $("seat-legend");
    const entries = (vote.options || []).map((label, i) => [`key-${i + 1}`, label]);
    const decided = !!(mirror.show || {}).decided;
    // Before the close a seat that has not pressed has not voted yet; after it, it did not.
    entries.push(decided ? ["did-not-vote", t.didNotVote] : ["present", t.notVoted]);
    entries.push(["absent", t.absent]);
    const signature = JSON.stringify(entries);
    if (legend.dataset.signature === signature) return;
    legend.dataset.signature = signature;
    legend.replaceChildren(
      ...entries.map(([cls, label]) => {
        const item = document.createElement("span");
        item.className = "legend-item";
        const swatch = document.createElement("span");
        swatch.className = `swatch ${cls}`;
        item.append(swatch, document.createTextNode(label));
        return item;
      })
    );
  }

  function drawFloor(t) {
    const floor = mirror.floor || {};
    setText($("speakers-label"), t.speaking);
    setText($("waiting-label"), t.waiting);
    const box = $("speakers");
    const live = floor.live || [];
    const at = typeof floor.at === "number" ? floor.at : mirror.now;
    box.replaceChildren(
      ...(live.length
        ? live.map((turn) => {
            const el = document.createElement("div");
            el.className = "speaker";
            el.dataset.seat = String(turn.seat);
            if (typeof turn.time_left_s === "number" && typeof at === "number") {
              el.dataset.end = String(at + turn.time_left_s - (turn.overtime_s || 0));
            }
            const name = document.createElement("div");
            name.className = "speaker-name";
            name.textContent = delegateName(turn.delegate, turn.seat, t);
            const meta = document.createElement("div");
            meta.className = "speaker-meta";
            meta.textContent = `${t.seat} ${turn.seat} · ${t.lists[turn.list] || turn.list}`;
            const time = document.createElement("div");
            time.className = "speaker-time";
            if (!el.dataset.end) time.textContent = t.noLimit;
            el.append(name, meta, time);
            return el;
          })
        : [Object.assign(document.createElement("div"), { className: "nobody", textContent: t.nobody })])
    );
    const waiting = [];
    const lists = floor.waiting || {};
    for (const name of ["reply", "question", "speak"]) {
      for (const entry of lists[name] || []) waiting.push({ ...entry, list: name });
    }
    const ol = $("waiting");
    const shown = waiting.slice(0, 8);
    const items = shown.map((entry) => {
      const li = document.createElement("li");
      li.dataset.seat = String(entry.seat);
      const name = document.createElement("span");
      name.className = "waiting-name";
      name.textContent = delegateName(entry.delegate, entry.seat, t);
      const list = document.createElement("span");
      list.className = `waiting-list list-${entry.list}`;
      list.textContent = t.lists[entry.list] || entry.list;
      li.append(name, list);
      return li;
    });
    if (waiting.length > shown.length) {
      const li = document.createElement("li");
      li.className = "more";
      li.textContent = t.more(waiting.length - shown.length);
      items.push(li);
    }
    if (!waiting.length) {
      const li = document.createElement("li");
      li.className = "nobody";
      li.textContent = t.noneWaiting;
      items.push(li);
    }
    ol.replaceChildren(...items);
  }

  function drawAttendance(t) {
    const q = mirror.quorum || {};
    const members = (mirror.hall && mirror.hall.members) || (hall && hall.members) || 0;
    setText($("attendance"), t.present(q.present || 0, members));
    const el = $("quorum");
    setText(el, q.quorate ? t.quorate : t.notQuorate(q.required || 0));
    el.className = q.quorate ? "ok" : "short";
  }

  function renderLink() {
    const t = TEXT[language()];
    const connected = document.body.dataset.connected === "true";
    const el = $("link");
    setText(el, connected ? "" : everConnected ? t.reconnecting : t.connecting);
    show(el, !connected);
  }

  // The running clocks: the vote's countdown and each speaker's time.
  function tick() {
    if (!mirror) return;
    const t = TEXT[language()];
    const now = daemonNow();
    const vote = currentVote();
    const how = mirror.show || {};
    const cd = $("countdown");
    if (vote && how.live) {
      let left = null;
      if (typeof how.deadline === "number" && now !== null) left = how.deadline - now;
      else if (typeof how.countdown_s === "number") left = how.countdown_s;
      setText(cd, left === null ? "" : clock(left));
      cd.classList.toggle("warning", !!how.warning);
      cd.classList.toggle("held", !!how.held);
      show(cd, left !== null);
    }
    for (const el of document.querySelectorAll(".speaker[data-end]")) {
      const left = Number(el.dataset.end) - (now === null ? 0 : now);
      const time = el.querySelector(".speaker-time");
      const over = left < 0;
      setText(time, over ? `${t.overtime} +${clock(-left)}` : clock(left));
      time.classList.toggle("over", over);
    }
  }

  // Shrink a text to its box when it would not fit: a long resolution title must never be cut.
  function fit(el) {
    if (el.hidden || !el.textContent) return;
    el.style.fontSize = "";
    let size = parseFloat(getComputedStyle(el).fontSize);
    const min = size * 0.45;
    while ((el.scrollHeight > el.clientHeight + 1 || el.scrollWidth > el.clientWidth + 1) && size > min) {
      size *= 0.9;
      el.style.fontSize = `${size}px`;
    }
  }
  function fitAll() {
    for (const el of document.querySelectorAll("#vote-title, #verdict, #explanation, #item-title, #sitting-title, #body-name, .speaker-name")) fit(el);
  }

  window.addEventListener("resize", () => render());
  setInterval(tick, 200);
  loadHall();
  connect();
})();
