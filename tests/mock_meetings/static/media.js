// Remote participants' audio over real WebRTC, sent by the meeting's server as a real meeting's
// would: the page only receives. Each Channel is one RTCPeerConnection offered by the server
// (its candidates in the SDP); the page answers once its own ICE gathering is complete.
window.MockMedia = (() => {
  async function post(url, body) {
    const answer = await fetch(url, {
      method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body),
    });
    if (!answer.ok) throw new Error(`${url}: ${answer.status}`);
    return answer.json();
  }
  function gathered(pc) {
    // Non-trickle: the answer must carry our candidates (bounded, in case gathering stalls).
    return Promise.race([
      new Promise((resolve) => {
        const check = () => pc.iceGatheringState === "complete" && resolve();
        pc.addEventListener("icegatheringstatechange", check);
        check();
      }),
      new Promise((resolve) => setTimeout(resolve, 3000)),
    ]);
  }
  class Channel {
    // One remote audio stream (`participant`: whose, on Meet; none: Teams' mix); `element` is
    // the <audio> it plays in.
    constructor(container, meeting, client, participant) {
      this.element = document.createElement("audio");
      this.element.autoplay = true;
      container.appendChild(this.element);
      this.closed = false;
      this.ready = this.connect(meeting, client, participant).catch((e) => console.warn("media:", e));
    }
    async connect(meeting, client, participant) {
      const offer = await post(`/api/${meeting}/media`, { client, participant });
      if (this.closed) return;
      const pc = (this.pc = new RTCPeerConnection());
      pc.ontrack = (e) => {
        this.element.srcObject = e.streams[0] || new MediaStream([e.track]);
        this.element.play().catch(() => {});
      };
      await pc.setRemoteDescription({ type: offer.type, sdp: offer.sdp });
      await pc.setLocalDescription(await pc.createAnswer());
      await gathered(pc);
      if (this.closed) return;
      await post(`/api/${meeting}/media/${offer.channel}`, pc.localDescription.toJSON());
    }
    close() {
      this.closed = true;
      if (this.pc) this.pc.close();
      this.element.remove();
    }
  }
  function indicate(event, on, off) {
    // The server sends the speech from start_ms on (same machine, same clock): follow it.
    const start = event.start_ms - Date.now();
    setTimeout(on, Math.max(0, start));
    setTimeout(off, Math.max(0, start + event.duration_s * 1000));
  }
  async function preview() {
    // The pre-join preview, as real pages do (with Chromium's fake devices).
    try {
      return await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
    } catch (e) {
      return null;
    }
  }
  function show(id) {
    document.querySelectorAll("[data-view]").forEach((v) => (v.hidden = v.id !== id));
  }
  function poller(meeting, client, handle) {
    let since = 0, stopped = false;
    async function tick() {
      if (stopped) return;
      try {
        const answer = await fetch(`/api/${meeting}/state?client=${client}&since=${since}`);
        const state = await answer.json();
        for (const s of state.speech) since = Math.max(since, s.seq);
        if (state.state !== "in") since = Math.max(since, state.last_seq);
        stopped = handle(state) === false;
      } catch (e) {}
      if (!stopped) setTimeout(tick, 250);
    }
    tick();
    return () => (stopped = true);
  }
  function join(meeting, name) {
    return post(`/api/${meeting}/join`, { name });
  }
  return { Channel, indicate, preview, show, poller, join };
})();
