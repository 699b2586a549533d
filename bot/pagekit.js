// The bot's in-page kit, installed before any page script runs (Playwright init script).
// __VOMEET_TABLE__ is replaced by the platform's selector table (JSON).
(() => {
  if (window.__vomeet) return;
  const TABLE = __VOMEET_TABLE__;
  const norm = (s) => (s || "").replace(/[\u2018\u2019]/g, "'").replace(/\s+/g, " ").trim().toLowerCase();
  const INNER = ["tile_name", "speaking", "silent", "roster_items"];
  const NAMED = "button,[role=button],[role=switch],[role=radio],[role=checkbox],[role=menuitem],[role=tab],a";

  function visible(el) {
    if (!el || !el.isConnected) return false;
    const r = el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) return false;
    const s = getComputedStyle(el);
    return s.visibility !== "hidden" && s.display !== "none";
  }
  function accessibleName(el) {
    const label = el.getAttribute("aria-label");
    if (label) return label;
    const by = el.getAttribute("aria-labelledby");
    if (by) return by.split(/\s+/).map((id) => (document.getElementById(id) || {}).textContent || "").join(" ");
    return el.innerText || el.textContent || el.getAttribute("title") || "";
  }
  // One candidate: ["css", selector] | ["button", name prefix] | ["label", name] |
  // ["placeholder", text part] | ["text", text]
  function resolveOne(candidate, root) {
    const [kind, value] = candidate;
    root = root || document;
    let found = [];
    if (kind === "css") {
      try { found = [...root.querySelectorAll(value)]; } catch (e) { found = []; }
    } else if (kind === "button") {
      const want = norm(value);
      found = [...root.querySelectorAll(NAMED)].filter((el) => {
        const name = norm(accessibleName(el));
        return name === want || name.startsWith(want);
      });
    } else if (kind === "label") {
      const want = norm(value);
      found = [...root.querySelectorAll("input,textarea")].filter((el) => {
        const named = norm(el.getAttribute("aria-label")) || norm(el.labels && el.labels[0] && el.labels[0].textContent);
        return named === want;
      });
    } else if (kind === "placeholder") {
      const want = norm(value);
      found = [...root.querySelectorAll("input,textarea")].filter((el) => norm(el.placeholder).includes(want));
    } else if (kind === "text") {
      const want = norm(value);
      found = [...root.querySelectorAll("body *")].filter(
        (el) => el.children.length === 0 && norm(el.textContent).includes(want));
    }
    return found.filter(visible);
  }
  function resolve(key, root) {
    for (const candidate of TABLE.selectors[key] || []) {
      const found = resolveOne(candidate, root);
      if (found.length) return found;
    }
    return [];
  }
  function textSeen(key) {
    const body = norm(document.body ? document.body.innerText : "");
    for (const t of TABLE.texts[key] || []) if (body.includes(norm(t))) return t;
    return null;
  }
  // Participant tiles: [{name, speaking, changedAt}]
  const tileChanges = new WeakMap();
  let observer = null;
  function observe() {
    if (observer || !document.body) return;
    observer = new MutationObserver((records) => {
      const now = Date.now();
      for (const r of records) {
        if (r.type !== "attributes") continue;
        const tile = r.target.closest && r.target.closest(TABLE.tile);
        if (tile && tile !== r.target) tileChanges.set(tile, now);
      }
    });
    observer.observe(document.body, { attributes: true, attributeFilter: ["class"], subtree: true });
  }
  function tileName(tile) {
    for (const candidate of TABLE.selectors.tile_name || []) {
      if (candidate[0] === "attr") {
        const v = tile.getAttribute(candidate[1]);
        if (v) return v.split(",")[0].trim();
        continue;
      }
      const found = resolveOne(candidate, tile);
      if (found.length && found[0].textContent.trim()) return found[0].textContent.trim();
    }
    return "";
  }
  function tiles() {
    observe();
    const now = Date.now();
    return [...document.querySelectorAll(TABLE.tile)].filter(visible).map((tile) => {
      const speaking = resolve("speaking", tile).length > 0;
      const changed = tileChanges.get(tile) || 0;
      return { name: tileName(tile), speaking, recentlyChanged: now - changed < 1500 };
    });
  }
  function speakingNames() {
    const all = tiles();
    const named = all.filter((t) => t.speaking).map((t) => t.name);
    if (named.length || !TABLE.speaking_fallback) return named;
    // Obfuscated indicator classes renamed: a tile whose indicator keeps changing is talking.
    return all.filter((t) => t.recentlyChanged).map((t) => t.name);
  }
  function roster() {
    const items = resolve("roster_items");
    return items.map((el) => norm(accessibleName(el))).filter(Boolean);
  }
  function probe() {
    const signals = {};
    for (const key of Object.keys(TABLE.selectors)) {
      if (!INNER.includes(key)) signals[key] = resolve(key).length > 0;
    }
    const texts = {};
    for (const key of Object.keys(TABLE.texts)) texts[key] = textSeen(key);
    return {
      signals, texts,
      tiles: tiles().map((t) => t.name),
      roster: roster(),
      body: (document.body ? document.body.innerText : "").replace(/\s+/g, " ").trim().slice(0, 300),
      url: location.href,
    };
  }
  // Marks the first match of `key` so that Playwright can act on it with real input events.
  function mark(key, tag) {
    document.querySelectorAll(`[data-vomeet="${tag}"]`).forEach((el) => el.removeAttribute("data-vomeet"));
    const found = resolve(key);
    if (!found.length) return null;
    found[0].setAttribute("data-vomeet", tag);
    const el = found[0];
    return {
      name: accessibleName(el).slice(0, 80),
      checked: el.getAttribute("aria-checked"),
      pressed: el.getAttribute("aria-pressed"),
      muted: el.getAttribute("data-is-muted"),
      label: el.getAttribute("aria-label"),
      title: el.getAttribute("title"),
    };
  }

  // ---- the bot's own microphone -----------------------------------------------------------
  // Pages keep the microphone track live while it is muted (Teams does), and Chromium then runs
  // echo cancellation, noise suppression and gain control on it 100 times a second. The bot
  // never speaks, so the page gets a live track without that processing (docs/bot.md).
  // Wrapped on the prototype with a Proxy, as RTCPeerConnection below: the page sees the same
  // function (name, length, no page source) however it reaches it.
  if (window.MediaDevices && MediaDevices.prototype.getUserMedia) {
    const RAW = { echoCancellation: false, noiseSuppression: false, autoGainControl: false };
    MediaDevices.prototype.getUserMedia = new Proxy(MediaDevices.prototype.getUserMedia, {
      apply(target, self, args) {
        const constraints = args[0];
        if (constraints && constraints.audio) {
          const audio = typeof constraints.audio === "object" ? constraints.audio : {};
          args = [{ ...constraints, audio: { ...audio, ...RAW } }, ...args.slice(1)];
        }
        return Reflect.apply(target, self, args);
      },
    });
  }

  // ---- contributing sources ------------------------------------------------------------
  // A media server that mixes several people into one stream (Teams) lists in each RTP packet
  // the sources (CSRC) in it; getContributingSources() gives, per source, the time of its latest
  // packet. They follow the audio itself, where speaking indicators are UI and lag. The page's
  // connections are found by wrapping the constructor before the page's scripts run; a Proxy
  // keeps its name, prototype, statics and `instanceof` as they were.
  const peers = new Set();
  const sources = { latest: new Map(), heard: [], polled: 0, seen: false };
  if (window.RTCPeerConnection) {
    const Native = window.RTCPeerConnection;
    const Traced = new Proxy(Native, {
      construct(target, args, newTarget) {
        const pc = Reflect.construct(target, args, newTarget);
        peers.add(pc);
        return pc;
      },
    });
    window.RTCPeerConnection = Traced;
    if (window.webkitRTCPeerConnection === Native) window.webkitRTCPeerConnection = Traced;
  }
  function epochMs(timestamp, now) {
    // The spec's clock is performance.timeOrigin-based epoch ms; a relative one is converted.
    return Math.abs(timestamp - now) < 3600e3 ? timestamp : performance.timeOrigin + timestamp;
  }
  function pollSources() {
    const now = Date.now();
    for (const pc of peers) {
      if (pc.signalingState === "closed") { peers.delete(pc); continue; }
      for (const receiver of pc.getReceivers()) {
        if (!receiver.track || receiver.track.kind !== "audio") continue;
        for (const s of receiver.getContributingSources()) {
          const t = Math.round(epochMs(s.timestamp, now));
          if (sources.latest.get(s.source) === t) continue;  // no packet from it since the last poll
          sources.latest.set(s.source, t);
          sources.heard.push([s.source, t]);
          sources.seen = true;
        }
      }
    }
    sources.polled = now;
  }

  // ---- audio capture ------------------------------------------------------------------
  const capture = { ctx: null, streams: new Map(), nextId: 1, started: false, mix: null, events: [] };
  const WORKLET = `
    class VomeetTap extends AudioWorkletProcessor {
      constructor() { super(); this.buf = new Float32Array(6400); this.n = 0; }
      process(inputs) {
        const input = inputs[0];
        if (!input || !input.length) return true;
        const frames = input[0].length;
        for (let i = 0; i < frames; i++) {
          let v = 0;
          for (let c = 0; c < input.length; c++) v += input[c][i];
          this.buf[this.n++] = v / input.length;
          if (this.n === this.buf.length) {
            this.port.postMessage(this.buf, [this.buf.buffer]);
            this.buf = new Float32Array(6400); this.n = 0;
          }
        }
        return true;
      }
    }
    registerProcessor("vomeet-tap", VomeetTap);`;
  function toBase64(f32) {
    const bytes = new Uint8Array(f32.buffer, f32.byteOffset, f32.byteLength);
    if (bytes.toBase64) return bytes.toBase64();  // native since Chromium 140
    let s = "";
    for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    return btoa(s);
  }
  // Blocks wait here and go to the bot together every 400 ms: each call to the binding costs
  // the bot's Node and Python more than its bytes do (docs/bot.md, Footprint).
  const outbox = [];
  function flush() {
    if (outbox.length) window.vomeetAudio(JSON.stringify(outbox.splice(0)));
  }
  function sink(channel, node) {
    // 400 ms blocks from the worklet.
    let firstAt = null;
    node.port.onmessage = (e) => {
      const joined = e.data;
      if (firstAt === null) firstAt = Date.now() - 400;
      let sum = 0;
      for (let i = 0; i < joined.length; i++) sum += joined[i] * joined[i];
      const rms = Math.sqrt(sum / joined.length);
      let speaking = [];
      try { speaking = speakingNames(); } catch (err) {}
      const events = capture.events.splice(0);
      // Sent once a source was seen (a page without CSRCs, such as Meet's, sends none): the
      // packets heard since the last block, and up to when the page looked (to tell a pause).
      const csrc = sources.seen ? { polled: sources.polled, heard: sources.heard.splice(0) } : undefined;
      outbox.push({ channel, pcm: toBase64(joined), rms, speaking, at: Date.now(), firstAt, events, csrc });
    };
  }
  function tapNode() {
    // No outputs: Chromium pulls such a node by itself, nothing is played.
    return new AudioWorkletNode(capture.ctx, "vomeet-tap", { numberOfInputs: 1, numberOfOutputs: 0, channelCount: 1, channelCountMode: "explicit" });
  }
  function scan() {
    if (!capture.started) return;
    for (const el of document.querySelectorAll("audio,video")) {
      const stream = el.srcObject;
      if (!(stream instanceof MediaStream)) continue;
      if (!stream.getAudioTracks().some((t) => t.readyState === "live")) continue;
      // Our own microphone (a pre-join preview) belongs to a device group; remote tracks do not.
      if (stream.getAudioTracks().some((t) => (t.getSettings() || {}).groupId)) continue;
      if (capture.streams.has(stream.id)) continue;
      const channel = "ch" + capture.nextId++;
      const source = capture.ctx.createMediaStreamSource(stream);
      const node = tapNode();
      source.connect(node);
      if (capture.mix) source.connect(capture.mix);
      capture.streams.set(stream.id, { channel, source, node, stream });
      sink(channel, node);
    }
    for (const [id, entry] of capture.streams) {
      if (entry.stream.getAudioTracks().every((t) => t.readyState === "ended")) {
        entry.source.disconnect();
        entry.node.port.onmessage = null;
        entry.node.disconnect();
        capture.streams.delete(id);
      }
    }
  }
  async function startCapture(options) {
    if (capture.started) return true;
    // Nothing is played: no audio device (sinkId none: no output stream in the audio service,
    // rendered by a timer in the page) and large render buffers (fewer wake-ups); latency
    // does not matter here, blocks are 400 ms anyway.
    capture.ctx = new AudioContext({ sampleRate: 16000, latencyHint: "playback", sinkId: { type: "none" } });
    const url = URL.createObjectURL(new Blob([WORKLET], { type: "text/javascript" }));
    await capture.ctx.audioWorklet.addModule(url);
    if (capture.ctx.state === "suspended") await capture.ctx.resume();
    if (options && options.mix) {
      capture.mix = tapNode();
      sink("mix", capture.mix);
    }
    capture.started = true;
    setInterval(flush, 400);
    scan();
    new MutationObserver(scan).observe(document.body, { childList: true, subtree: true });
    setInterval(scan, 1000);  // a srcObject set on an element already in the page
    if (options && options.turns) trackTurns();
    return true;
  }
  function trackTurns() {
    // A mixed stream (Teams) is attributed by speaker turns: the contributing sources and the
    // speaking indicators as events with times. Per-person channels (Meet) need neither.
    setInterval(() => { try { pollSources(); } catch (e) {} }, 100);
    let last = new Set();
    setInterval(() => {
      let now;
      try { now = new Set(speakingNames()); } catch (e) { return; }
      const t = Date.now();
      for (const n of now) if (!last.has(n)) capture.events.push({ name: n, on: true, t });
      for (const n of last) if (!now.has(n)) capture.events.push({ name: n, on: false, t });
      last = now;
    }, 200);
  }
  window.__vomeet = { probe, mark, tiles, speakingNames, startCapture, textSeen, resolve };
})();
