// A meeting's page: the transcript, live over /ws (signed in by the console's session cookie),
// speakers in distinct colours, auto-scroll that pauses while the reader looks further up,
// and clicking a segment plays the recording from there.
"use strict";

const SPEAKER_COLOURS = 8;
const NEAR_BOTTOM_PX = 40;

function clock(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  const two = (n) => String(n).padStart(2, "0");
  return h ? `${h}:${two(m)}:${two(r)}` : `${m}:${two(r)}`;
}

class Transcript {
  constructor(box, player) {
    this.box = box;
    this.player = player;
    this.segments = new Map();
    this.rows = new Map();
    this.speakers = new Map();
    this.latest = null;  // newest updated_at seen: the `since` of a reconnect
    this.follow = true;
    this.jump = document.getElementById("jump-live");
    box.addEventListener("scroll", () => {
      this.follow = box.scrollHeight - box.scrollTop - box.clientHeight < NEAR_BOTTOM_PX;
      this.jump.hidden = this.follow;
    });
    this.jump.addEventListener("click", () => { this.follow = true; this.jump.hidden = true; this.scrollToEnd(); });
    box.addEventListener("click", (event) => {
      const row = event.target.closest(".segment");
      if (row && this.player) { this.player.currentTime = Number(row.dataset.start); this.player.play().catch(() => {}); }
    });
    if (player) player.addEventListener("timeupdate", () => this.markPlaying(player.currentTime));
  }

  colourOf(speaker) {
    if (!this.speakers.has(speaker)) this.speakers.set(speaker, (this.speakers.size % SPEAKER_COLOURS) + 1);
    return `var(--sp${this.speakers.get(speaker)})`;
  }

  // Only the segments that changed are touched: a long meeting has thousands of rows, and the
  // newest partial segment changes several times a second.
  upsert(segments) {
    for (const segment of segments) {
      if (!this.latest || segment.updated_at > this.latest) this.latest = segment.updated_at;
      const known = this.segments.get(segment.segment_id);
      if (known && known.updated_at > segment.updated_at) continue;
      this.segments.set(segment.segment_id, segment);
      const fresh = this.row(segment);
      if (known) this.rows.get(segment.segment_id).replaceWith(fresh);
      else this.insertInOrder(segment, fresh);
      this.rows.set(segment.segment_id, fresh);
    }
    const empty = document.getElementById("transcript-empty");
    if (empty) empty.hidden = this.segments.size > 0;
    if (this.follow) this.scrollToEnd();
  }

  insertInOrder(segment, element) {
    // Segments mostly arrive in order: look for the place from the end.
    let after = this.box.lastElementChild;
    while (after && after.classList.contains("segment") && this.before(segment, this.segments.get(after.dataset.segmentId))) {
      after = after.previousElementSibling;
    }
    if (after) after.after(element);
    else this.box.prepend(element);
  }

  before(a, b) {
    return a.start < b.start || (a.start === b.start && a.segment_id < b.segment_id);
  }

  row(segment) {
    const element = document.createElement(this.player ? "button" : "div");
    if (this.player) { element.type = "button"; element.title = "Play from here"; }
    element.className = "segment" + (segment.completed ? "" : " partial") + (this.player ? " seekable" : "");
    element.dataset.start = segment.start;
    element.dataset.segmentId = segment.segment_id;
    const time = document.createElement("span");
    time.className = "time";
    time.textContent = clock(segment.start);
    const body = document.createElement("span");
    if (segment.speaker) {
      const who = document.createElement("span");
      who.className = "speaker";
      who.style.color = this.colourOf(segment.speaker);
      who.textContent = segment.speaker;
      body.append(who);
    }
    const text = document.createElement("span");
    text.className = "text";
    text.textContent = segment.text;
    body.append(text);
    element.append(time, body);
    return element;
  }

  markPlaying(at) {
    for (const row of this.box.querySelectorAll(".segment")) {
      const segment = this.segments.get(row.dataset.segmentId);
      row.classList.toggle("playing", segment && at >= segment.start && at < segment.end);
    }
  }

  scrollToEnd() { this.box.scrollTop = this.box.scrollHeight; }
}

class LiveLink {
  constructor(meetingId, status, transcript) {
    this.meetingId = meetingId;
    this.current = status;
    this.transcript = transcript;
    this.state = document.getElementById("live-state");
    this.delay = 1000;
    this.ended = false;
  }

  show(text, on) {
    this.state.replaceChildren();
    const dot = document.createElement("span");
    dot.className = "live-dot" + (on ? " on" : "");
    dot.setAttribute("aria-hidden", "true");
    this.state.append(dot, text);
  }

  connect() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(`${scheme}//${location.host}/ws?meeting_id=${this.meetingId}`);
    socket.addEventListener("open", () => {
      this.delay = 1000;
      const subscribe = { action: "subscribe", meetings: [{ meeting_id: this.meetingId }] };
      subscribe.since = this.transcript.latest || "1970-01-01T00:00:00+00:00";
      socket.send(JSON.stringify(subscribe));
    });
    socket.addEventListener("message", (event) => this.receive(JSON.parse(event.data)));
    socket.addEventListener("close", (event) => {
      if (this.ended) return;
      if (event.code === 4401) { this.show("Signed out: reload the page", false); return; }
      this.show("Reconnecting…", false);
      setTimeout(() => this.connect(), this.delay);
      this.delay = Math.min(this.delay * 2, 15000);
    });
  }

  async reconcile() {
    try {
      const answer = await fetch(`${location.pathname}/state`, { credentials: "same-origin" });
      if (!answer.ok) return;
      const state = await answer.json();
      if (state.status !== this.current) this.status(state);
    } catch (e) { /* the next status frame will tell */ }
  }

  receive(frame) {
    if (frame.type === "subscribed") { this.show("Live", true); this.reconcile(); }
    else if (frame.type === "transcript.mutable") this.transcript.upsert(frame.payload.segments);
    else if (frame.type === "meeting.status") this.status(frame.payload);
  }

  status(payload) {
    this.current = payload.status;
    const badge = document.querySelector("#status-badge .badge");
    badge.className = `badge ${payload.status}`;
    badge.textContent = payload.status.replace(/_/g, " ");
    document.getElementById("status-text").textContent =
      payload.status.replace(/_/g, " ") + (payload.reason ? ` (${String(payload.reason).replace(/_/g, " ")})` : "");
    const item = document.createElement("li");
    const strong = document.createElement("strong");
    strong.textContent = payload.status.replace(/_/g, " ");
    item.append(strong);
    if (payload.reason) {
      const reason = document.createElement("div");
      reason.className = "small";
      reason.textContent = String(payload.reason).replace(/_/g, " ");
      item.append(reason);
    }
    const timeline = document.getElementById("timeline");
    timeline.querySelector("li.muted")?.remove();
    timeline.append(item);
    if (payload.status === "completed" || payload.status === "failed") {
      this.ended = true;
      this.show("Finished", false);
      const stop = document.getElementById("stop-form");
      if (stop) stop.hidden = true;
    }
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const data = JSON.parse(document.getElementById("meeting-data").textContent);
  const transcript = new Transcript(document.getElementById("transcript"), document.getElementById("player"));
  transcript.upsert(data.segments);
  if (data.live) new LiveLink(data.meeting_id, data.status, transcript).connect();
});
