// Remote participants' audio over real WebRTC: a sender RTCPeerConnection plays AudioBuffers
// through a MediaStreamAudioDestinationNode; its receiver RTCPeerConnection, in the same page
// over loopback, gets the track whose stream feeds an <audio> element, as a meeting's would.
window.MockMedia = (() => {
  let ctx = null;
  function audioContext() {
    if (!ctx) ctx = new AudioContext();
    if (ctx.state === "suspended") ctx.resume();
    return ctx;
  }
  async function connect(stream) {
    const a = new RTCPeerConnection(), b = new RTCPeerConnection();
    a.onicecandidate = (e) => e.candidate && b.addIceCandidate(e.candidate).catch(() => {});
    b.onicecandidate = (e) => e.candidate && a.addIceCandidate(e.candidate).catch(() => {});
    const remote = new Promise((resolve) => {
      b.ontrack = (e) => resolve(e.streams[0] || new MediaStream([e.track]));
    });
    stream.getTracks().forEach((t) => a.addTrack(t, stream));
    const offer = await a.createOffer();
    await a.setLocalDescription(offer);
    await b.setRemoteDescription(offer);
    const answer = await b.createAnswer();
    await b.setLocalDescription(answer);
    await a.setRemoteDescription(answer);
    return { pcs: [a, b], stream: await remote };
  }
  class Channel {
    // One remote audio stream; `element` is the <audio> it plays in.
    constructor(container) {
      this.dest = audioContext().createMediaStreamDestination();
      this.element = document.createElement("audio");
      this.element.autoplay = true;
      container.appendChild(this.element);
      this.ready = connect(this.dest.stream).then(({ pcs, stream }) => {
        this.pcs = pcs;
        this.element.srcObject = stream;
        this.element.play().catch(() => {});
      });
    }
    async play(samples) {
      await this.ready;
      const c = audioContext();
      const buffer = c.createBuffer(1, samples.length, 16000);
      buffer.copyToChannel(samples, 0);
      const source = c.createBufferSource();
      source.buffer = buffer;
      source.connect(this.dest);
      const ended = new Promise((resolve) => (source.onended = resolve));
      source.start();
      return ended;
    }
    close() {
      (this.pcs || []).forEach((pc) => pc.close());
      this.element.remove();
    }
  }
  async function samples(seq) {
    const answer = await fetch("/api/audio/" + seq);
    return new Float32Array(await answer.arrayBuffer());
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
  async function join(meeting, name) {
    const answer = await fetch(`/api/${meeting}/join`, {
      method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ name }),
    });
    return answer.json();
  }
  function played(meeting, seq) {
    fetch(`/api/${meeting}/played`, {
      method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ seq }),
    });
  }
  return { Channel, samples, preview, show, poller, audioContext, played, join };
})();
