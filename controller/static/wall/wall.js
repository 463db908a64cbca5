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
      holdBanner: "Tạm dừng biểu quyết",
      training: "ĐÀO TẠO — hội trường mô phỏng, không phải kỳ họp thật",
      practice: "Biểu quyết thử",
      mode: { open: "Biểu quyết công khai", secret: "Bỏ phiếu kín", "roll-call": "Biểu quyết lần lượt" },
      adopted: "THÔNG QUA",
      rejected: "KHÔNG THÔNG QUA",
      ended: "KHÔNG CÓ KẾT QUẢ",
      didNotVote: "Không tham gia biểu quyết",
      hiddenTotals: "Kết quả được công bố khi kết thúc biểu quyết",
      hiddenSecret: "Bỏ phiếu kín: kết quả được công bố khi kết thúc",
      secretSeats: "Bỏ phiếu kín: sơ đồ chỉ cho biết đại biểu nào đã bỏ phiếu, không cho biết lựa chọn",
      seatsVote: "Sơ đồ biểu quyết",
      seatsAttendance: "Sơ đồ điểm danh",
      speaking: "Đang phát biểu",
      waiting: "Đăng ký phát biểu",
      agenda: "Chương trình kỳ họp",
      noAgenda: "Chưa có chương trình",
      nobody: "Chưa có đại biểu phát biểu",
      noneWaiting: "Chưa có đại biểu đăng ký",
      lists: { speak: "Phát biểu", question: "Chất vấn", reply: "Tranh luận" },
      overtime: "Quá giờ",
      noLimit: "Không giới hạn thời gian",
      lastResult: "Biểu quyết vừa qua",
      present: (p, m) => `Có mặt: ${p}/${m} đại biểu`,
      quorate: "Đủ số đại biểu để biểu quyết",
      notQuorate: (n) => `Chưa đủ số đại biểu (cần ${n})`,
      seat: "Ghế",
      notVoted: "Chưa biểu quyết",
      voted: "Đã biểu quyết",
      presentSeat: "Có mặt",
      absent: "Vắng mặt",
      connecting: "Đang kết nối…",
      reconnecting: "Mất kết nối, đang kết nối lại…",
      more: (n) => `và ${n} đại biểu khác`,
      weekdays: ["Chủ nhật", "Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy"],
      date: (d, w) =>
        `${w}, ngày ${String(d.getDate()).padStart(2, "0")} tháng ${String(d.getMonth() + 1).padStart(2, "0")} năm ${d.getFullYear()}`,
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
      holdBanner: "Vote on hold",
      training: "TRAINING — a simulated hall, not a real sitting",
      practice: "Practice vote",
      mode: { open: "Open vote", secret: "Secret ballot", "roll-call": "Roll-call vote" },
      adopted: "ADOPTED",
      rejected: "NOT ADOPTED",
      ended: "NO RESULT",
      didNotVote: "Did not vote",
      hiddenTotals: "The totals are shown when the vote closes",
      hiddenSecret: "Secret ballot: the totals are shown at the close",
      secretSeats: "Secret ballot: the map shows who has voted, never how",
      seatsVote: "Seats",
      seatsAttendance: "Attendance",
      speaking: "Speaking",
      waiting: "Waiting to speak",
      agenda: "Agenda",
      noAgenda: "No agenda yet",
      nobody: "Nobody has the floor",
      noneWaiting: "Nobody is waiting",
      lists: { speak: "Speech", question: "Question", reply: "Reply" },
      overtime: "Overtime",
      noLimit: "No time limit",
      lastResult: "Last vote",
      present: (p, m) => `Present: ${p} of ${m} members`,
      quorate: "Quorum reached",
      notQuorate: (n) => `No quorum (${n} needed)`,
      seat: "Seat",
      notVoted: "Not voted yet",
      voted: "Voted",
      presentSeat: "Present",
      absent: "Absent",
      connecting: "Connecting…",
      reconnecting: "Connection lost, reconnecting…",
      more: (n) => `and ${n} more`,
      weekdays: ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"],
      months: ["January", "February", "March", "April", "May", "June", "July", "August",
               "September", "October", "November", "December"],
      date: (d, w) => `${w}, ${d.getDate()} ${TEXT.en.months[d.getMonth()]} ${d.getFullYear()}`,
    },
  };

  // --- the mirror ---------------------------------------------------------------------------

  let streamId = ""; // the daemon's stream: a restarted daemon numbers its messages anew
  let mirror = null; // the daemon's wall view, as the snapshot and the patches leave it
  let seq = null; // the number of the last message applied to the mirror
  let hall = null; // GET /api/hall: names and the seating chart
  let names = new Map(); // delegate id -> name
  let groups = new Map(); // delegate id -> delegation (tổ đại biểu)
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
        groups = new Map((h.delegates || []).map((d) => [d.id, d.group || ""]));
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

  // The vote's words and figures in the page's language, as the daemon wrote them.
  function voteText(how) {
    const all = (how && how.text) || {};
    return all[language()] || all.vi || { answers: [], lines: [], voted: "", figures: [], rule: "" };
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
    const lang = language();
    const t = TEXT[lang];
    document.documentElement.lang = lang;
    renderLink();
    if (!mirror) return;
    const h = mirror.hall || hall || {};
    // A training hall (`[hall] training`) says so where the council's name stands.
    const training = !!h.training;
    $("body-name").classList.toggle("training", training);
    setText($("body-name"), training ? t.training : h.name || "");
    document.title = h.short_name || h.name || "chamber";
    const sitting = mirror.sitting || {};
    const sittingTitle = (lang === "en" && sitting.title_en) || sitting.title || "";
    setText($("sitting-title"), sitting.sitting_id ? sittingTitle : t.noSitting);
    // The header's item is the shown vote's own, else the current one (the daemon's choice).
    const item = mirror.item || null;
    setText($("item-number"), item ? t.item(item.number, item.count) : "");
    setText($("item-title"), item ? (lang === "en" && item.title_en) || item.title : "");

    const screen = mirror.screen || "idle";
    if (document.body.dataset.screen !== screen) document.body.dataset.screen = screen;
    const vote = currentVote();
    const how = mirror.show || {};
    const withVote = (screen === "vote" || screen === "result") && !!vote;
    const withMap = (withVote && !!how.seat_map) || screen === "idle";
    document.body.classList.toggle("no-map", !withMap);
    show($("vote-panel"), withVote);
    show($("seats-panel"), withMap);
    show($("speech-panel"), screen === "speech");
    show($("queue-panel"), screen === "speech");
    show($("agenda-panel"), screen === "idle");
    show($("clock-panel"), screen === "idle");
    show($("hold-banner"), withVote && !!how.held);
    setText($("hold-banner"), how.held ? t.holdBanner : "");
    if (withVote) drawVote(vote, how, t);
    drawSeats(screen, vote, how, t);
    if (screen === "speech") drawFloor(t);
    drawLastResult(screen, vote, how, t);
    if (screen === "idle") drawAgenda(sitting, lang, t);
    drawAttendance(t);
    tick();
    fitAll();
  }

  function drawVote(vote, how, t) {
    const panel = $("vote-panel");
    const secret = vote.mode === "secret";
    const vt = voteText(how);
    panel.dataset.vote = vote.vote_id;
    panel.dataset.state = vote.state;
    // A practice vote says so first; it decides nothing (the wall view's `show.practice`).
    const status = t.state[vote.state] || vote.state;
    setText($("vote-status"), how.practice ? `${t.practice}: ${status}` : status);
    setText($("vote-mode"), t.mode[vote.mode] || vote.mode);
    $("vote-mode").classList.toggle("secret", secret);
    setText($("vote-title"), vote.title || "");

    // How to show it, as the daemon decided (the wall view's `show`, docs/stream.md).
    const result = how.decided ? vote.result : null;
    show($("vote-live"), !!how.live);
    setText($("voted"), vt.voted || "");
    show($("voted"), !!vt.voted);

    const counts = Array.isArray(how.counts) ? how.counts : null;
    const hidden = !!how.totals_hidden;
    show($("totals-hidden"), hidden);
    setText($("totals-hidden"), hidden ? (secret ? t.hiddenSecret : t.hiddenTotals) : "");
    drawTotals(vt, counts, how.bar_base || 0, how.bar_mark);

    const res = $("result");
    if (result) {
      const adopted = !!(result.outcome && result.outcome.adopted);
      res.dataset.vote = vote.vote_id;
      res.dataset.adopted = String(adopted);
      setText($("verdict"), adopted ? t.adopted : t.rejected);
      $("verdict").className = adopted ? "adopted" : "rejected";
    } else {
      delete res.dataset.vote;
      delete res.dataset.adopted;
    }
    show(res, !!result);
    const figures = $("figures");
    const wanted = result ? vt.figures || [] : [];
    const signature = JSON.stringify(wanted);
    if (figures.dataset.signature !== signature) {
      figures.dataset.signature = signature;
      figures.replaceChildren(
        ...wanted.map((text) => Object.assign(document.createElement("span"), { textContent: text }))
      );
    }
    show(figures, wanted.length > 0);
    const ended = vote.state === "cancelled" || vote.state === "annulled";
    setText($("rule"), ended ? "" : vt.rule || "");
    show($("rule"), !ended && !!vt.rule);
  }

  // One row per answer: its label, its count and share as the daemon wrote them, and a bar
  // whose whole length is the base the rule is reckoned over, marked at the count needed.
  function drawTotals(vt, counts, base, mark) {
    const box = $("totals");
    show(box, counts !== null);
    if (counts === null) {
      box.replaceChildren();
      return;
    }
    const answers = vt.answers || [];
    while (box.children.length > answers.length) box.lastChild.remove();
    while (box.children.length < answers.length) {
      const row = document.createElement("div");
      const label = Object.assign(document.createElement("span"), { className: "label" });
      const share = Object.assign(document.createElement("span"), { className: "share" });
      const bar = Object.assign(document.createElement("div"), { className: "bar" });
      bar.append(
        Object.assign(document.createElement("div"), { className: "fill" }),
        Object.assign(document.createElement("div"), { className: "mark" })
      );
      row.append(label, share, bar);
      box.appendChild(row);
    }
    answers.forEach((label, i) => {
      const row = box.children[i];
      const count = counts[i] || 0;
      row.className = `answer key-${i + 1}`;
      row.dataset.key = String(i + 1);
      row.dataset.count = String(count);
      setText(row.querySelector(".label"), label);
      setText(row.querySelector(".share"), (vt.lines || [])[i] || String(count));
      const width = base > 0 ? Math.min(100, (100 * count) / base) : 0;
      row.querySelector(".fill").style.width = `${width}%`;
      const markEl = row.querySelector(".mark");
      const marked = typeof mark === "number" && base > 0 && mark <= base;
      show(markEl, marked);
      if (marked) markEl.style.left = `${(100 * mark) / base}%`;
      row.dataset.base = String(base);
      row.dataset.mark = marked ? String(mark) : "";
    });
  }

  let seatLayout = null; // {kind, cells: Map(seat -> element)}

  // The seating chart of the hall file: the voting members' seats for a vote, every
  // delegate's seat for the attendance map.
  function buildSeatMap(kind) {
    const map = $("seatmap");
    map.replaceChildren();
    const voting = new Set((hall.delegates || []).filter((d) => d.voting).map((d) => d.id));
    const seats = (hall.seats || []).filter(
      (s) => s.delegate && (kind === "attendance" || voting.has(s.delegate))
    );
    const rowOrder = Array.from(new Set(seats.map((s) => s.row))).sort((a, b) => a - b);
    const colOrder = Array.from(new Set(seats.map((s) => s.col))).sort((a, b) => a - b);
    map.style.gridTemplateColumns = `repeat(${colOrder.length}, minmax(0, 1fr))`;
    map.style.gridTemplateRows = `repeat(${rowOrder.length}, minmax(0, 1fr))`;
    const cells = new Map();
    for (const s of seats) {
      const el = document.createElement("div");
      el.className = "seat";
      el.dataset.seat = String(s.number);
      el.style.gridRow = String(rowOrder.indexOf(s.row) + 1);
      el.style.gridColumn = String(colOrder.indexOf(s.col) + 1);
      el.appendChild(Object.assign(document.createElement("span"), { textContent: String(s.number) }));
      map.appendChild(el);
      cells.set(s.number, el);
    }
    seatLayout = { kind, cells };
  }

  function drawSeats(screen, vote, how, t) {
    const kind = screen === "idle" ? "attendance" : "vote";
    const onVote = (screen === "vote" || screen === "result") && !!vote && !!how.seat_map;
    if (!hall || (!onVote && kind === "vote")) return;
    if (seatLayout === null || seatLayout.kind !== kind) buildSeatMap(kind);
    const present = new Set(((mirror.attendance || {}).present_seats) || []);
    const members = (mirror.hall && mirror.hall.members) || hall.members || 0;
    const secret = onVote && vote.mode === "secret";
    show($("secret-note"), secret);
    setText($("secret-note"), secret ? t.secretSeats : "");
    const entries = [];
    if (kind === "attendance") {
      setText($("seats-label"), t.present(present.size, members));
      for (const [seat, el] of seatLayout.cells) {
        const cls = present.has(seat) ? "seat present" : "seat absent";
        delete el.dataset.key;
        if (el.className !== cls) el.className = cls;
      }
      entries.push(["present", t.presentSeat], ["absent", t.absent]);
    } else {
      setText($("seats-label"), t.seatsVote);
      const key = new Map((how.choices || []).map((c) => [c.seat, c.key]));
      // Who has voted, without their keys: while the totals are hidden, and for a secret vote
      // once decided (those who took part).
      const result = how.decided ? vote.result || {} : null;
      const voted = new Set(how.voted_seats || []);
      if (result && secret) for (const s of result.participants || []) voted.add(s);
      // Once decided, the seats of the electorate that did not vote: "Không tham gia".
      const didNotVote = new Set(how.did_not_vote || []);
      for (const [seat, el] of seatLayout.cells) {
        const k = key.get(seat);
        let cls = "seat";
        if (k !== undefined) {
          cls += ` key-${k}`;
          el.dataset.key = String(k);
        } else {
          delete el.dataset.key;
          if (didNotVote.has(seat)) cls += " did-not-vote";
          else if (voted.has(seat)) cls += " voted";
          else cls += present.has(seat) ? " present" : " absent";
        }
        if (vote.calling === seat) cls += " calling";
        if (el.className !== cls) el.className = cls;
      }
      const keysShown = !secret && !how.totals_hidden;
      if (keysShown) voteText(how).answers.forEach((label, i) => entries.push([`key-${i + 1}`, label]));
      else entries.push(["voted", t.voted]);
      // Before the close a seat that has not pressed has not voted yet; after it, it did not.
      entries.push(how.decided ? ["did-not-vote", t.didNotVote] : ["present", t.notVoted]);
      entries.push(["absent", t.absent]);
    }
    drawLegend(entries);
  }

  function drawLegend(entries) {
    const legend = $("seat-legend");
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
        ? live.map((turn, i) => {
            const el = document.createElement("div");
            el.className = i === 0 ? "speaker first" : "speaker";
            el.dataset.seat = String(turn.seat);
            if (typeof turn.time_left_s === "number" && typeof at === "number") {
              el.dataset.end = String(at + turn.time_left_s - (turn.overtime_s || 0));
            }
            const name = document.createElement("div");
            name.className = "speaker-name";
            name.textContent = delegateName(turn.delegate, turn.seat, t);
            const group = document.createElement("div");
            group.className = "speaker-group";
            group.textContent = groups.get(turn.delegate) || "";
            const meta = document.createElement("div");
            meta.className = "speaker-meta";
            meta.textContent = `${t.seat} ${turn.seat} · ${t.lists[turn.list] || turn.list}`;
            const time = document.createElement("div");
            time.className = "speaker-time";
            if (!el.dataset.end) {
              time.textContent = t.noLimit;
              time.classList.add("untimed");
            }
            el.append(name);
            if (group.textContent) el.append(group);
            el.append(meta, time);
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

  // While someone speaks, the vote the wall shows (its result, or that it ended without one)
  // shrinks to one line.
  function drawLastResult(screen, vote, how, t) {
    const line = $("last-result");
    const wanted = screen === "speech" && !!vote && !how.live;
    show(line, wanted);
    if (!wanted) return;
    const result = how.decided ? vote.result : null;
    const adopted = !!(result && result.outcome && result.outcome.adopted);
    const vt = voteText(how);
    const counts = Array.isArray(how.counts) ? how.counts : null;
    const figures = counts
      ? vt.answers.map((label, i) => `${label}: ${counts[i] || 0}`).join(" · ")
      : t.state[vote.state] || "";
    const verdict = result ? (adopted ? t.adopted : t.rejected) : t.ended;
    const signature = JSON.stringify([vote.vote_id, verdict, figures, language()]);
    if (line.dataset.signature === signature) return;
    line.dataset.signature = signature;
    line.dataset.vote = vote.vote_id;
    const label = Object.assign(document.createElement("span"), { textContent: `${t.lastResult}:` });
    const badge = Object.assign(document.createElement("span"), {
      className: `verdict-badge ${result ? (adopted ? "adopted" : "rejected") : "ended"}`,
      textContent: verdict,
    });
    const rest = Object.assign(document.createElement("span"), {
      className: "last-figures",
      textContent: figures,
    });
    line.replaceChildren(label, badge, rest);
  }

  function drawAgenda(sitting, lang, t) {
    setText($("agenda-label"), t.agenda);
    const agenda = sitting.agenda || [];
    const ol = $("agenda");
    const entries = agenda.map((a, i) => [
      i + 1,
      (lang === "en" && a.title_en) || a.title || "",
      a.id === sitting.current_item,
    ]);
    const signature = JSON.stringify(entries);
    if (ol.dataset.signature === signature) return;
    ol.dataset.signature = signature;
    ol.style.fontSize = "";
    if (!entries.length) {
      ol.replaceChildren(Object.assign(document.createElement("li"), { className: "nobody", textContent: t.noAgenda }));
      return;
    }
    ol.replaceChildren(
      ...entries.map(([n, title, current]) => {
        const li = document.createElement("li");
        if (current) li.className = "current";
        li.append(
          Object.assign(document.createElement("span"), { className: "agenda-number", textContent: `${n}.` }),
          Object.assign(document.createElement("span"), { className: "agenda-title", textContent: title })
        );
        return li;
      })
    );
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

  // The time of day and the date, as the wall's own computer keeps them (the hall's local
  // time). Only this clock reads the browser's date; every countdown runs on the daemon's.
  function drawClock(t) {
    const d = new Date();
    const time = `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
    const date = t.date(d, t.weekdays[d.getDay()]);
    setText($("clock-time"), time);
    setText($("clock-date"), date);
    setText($("big-time"), time);
    setText($("big-date"), date);
  }

  // The running clocks: the vote's countdown, each speaker's time, the time of day.
  function tick() {
    if (!mirror) return;
    const t = TEXT[language()];
    drawClock(t);
    const now = daemonNow();
    const vote = currentVote();
    const how = mirror.show || {};
    const cd = $("countdown");
    if (vote && how.live) {
      let left = null;
      if (typeof how.deadline === "number" && now !== null) left = how.deadline - now;
      else if (typeof how.countdown_s === "number") left = how.countdown_s;
      const untimed = left === null && vote.duration_s === 0;
      setText(cd, untimed ? t.noLimit : left === null ? "" : clock(left));
      cd.classList.toggle("untimed", untimed);
      cd.classList.toggle("warning", !!how.warning);
      cd.classList.toggle("held", !!how.held);
      show(cd, left !== null || untimed);
    }
    for (const el of document.querySelectorAll(".speaker[data-end]")) {
      const left = Number(el.dataset.end) - (now === null ? 0 : now);
      const time = el.querySelector(".speaker-time");
      const over = left < 0;
      setText(time, over ? `${t.overtime} +${clock(-left)}` : clock(left));
      time.classList.toggle("over", over);
    }
  }

  function overflows(el) {
    return el.scrollHeight > el.clientHeight + 1 || el.scrollWidth > el.clientWidth + 1;
  }

  // Shrink a text to its box when it would not fit: a long resolution title must never be cut.
  function fit(el) {
    if (el.hidden || !el.textContent) return;
    el.style.fontSize = "";
    let size = parseFloat(getComputedStyle(el).fontSize);
    const min = size * 0.4;
    while (overflows(el) && size > min) {
      size *= 0.92;
      el.style.fontSize = `${size}px`;
    }
  }

  const TEXTS = "#body-name, #sitting-title, #item-title, #hold-banner, #vote-title, #verdict, .speaker-name, #last-result";

  // Shrink a whole region (every size in it is in --u) when what it holds would not fit, its
  // texts fitted again at each step.
  function fitRegion(el) {
    el.style.removeProperty("--u");
    if (el.hidden) return;
    const texts = el.querySelectorAll(TEXTS);
    texts.forEach(fit);
    const unit = Math.min(window.innerHeight / 100, window.innerWidth * 0.0075);
    let scale = 1;
    while (overflows(el) && scale > 0.6) {
      scale *= 0.94;
      el.style.setProperty("--u", `${unit * scale}px`);
      texts.forEach(fit);
    }
  }

  const REGIONS = "#vote-panel, #speech-panel, #queue-panel, #agenda-panel";
  function fitAll() {
    for (const el of document.querySelectorAll(TEXTS)) if (!el.closest(REGIONS)) fit(el);
    for (const el of document.querySelectorAll(REGIONS)) fitRegion(el);
  }

  window.addEventListener("resize", () => render());
  setInterval(tick, 200);
  loadHall();
  connect();
})();
