// Send a bot: show what the appliance reads in the pasted link while one types.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const input = document.getElementById("meeting_url");
  const out = document.getElementById("parsed");
  if (!input || !out) return;
  const hint = out.innerHTML;
  let timer = null;
  let asked = null;

  const show = (result) => {
    out.replaceChildren();
    out.classList.toggle("error", !result.ok);
    if (!result.ok) { out.textContent = result.error; return; }
    const rows = [["Platform", "platform", result.platform_name], ["Meeting ID", "native_meeting_id", result.native_meeting_id],
                  ["Passcode", "passcode", result.passcode || "none"]];
    for (const [label, field, value] of rows) {
      const dt = document.createElement("dt"); dt.textContent = label;
      const dd = document.createElement("dd"); dd.textContent = value; dd.dataset.field = field;
      out.append(dt, dd);
    }
  };

  const parse = async () => {
    const url = input.value.trim();
    if (url === asked) return;
    asked = url;
    if (!url) { out.classList.remove("error"); out.innerHTML = hint; return; }
    try {
      const answer = await fetch(input.dataset.parse + "?url=" + encodeURIComponent(url), { credentials: "same-origin" });
      if (url === asked && answer.ok) show(await answer.json());
    } catch (e) { /* the form still works: the server checks the link again */ }
  };

  input.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(parse, 200); });
  input.addEventListener("change", parse);
  if (input.value) parse();
});
