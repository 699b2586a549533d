// Console behaviour shared by every page: theme toggle, local times, meters, copy buttons,
// confirmations, the sign-in tabs and the dashboard's live refresh.
"use strict";

function currentTheme() {
  const set = document.documentElement.dataset.theme;
  if (set) return set;
  return window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
}

function setupThemeToggle() {
  for (const button of document.querySelectorAll("[data-theme-toggle]")) {
    const label = () => { button.textContent = currentTheme() === "dark" ? "Light" : "Dark"; };
    label();
    button.addEventListener("click", () => {
      const next = currentTheme() === "dark" ? "light" : "dark";
      document.documentElement.dataset.theme = next;
      try { localStorage.setItem("vomeet-theme", next); } catch (e) { /* not kept */ }
      label();
    });
  }
}

// Times arrive in UTC; show them in the reader's zone: today's as a time of day only.
function localiseTimes(root) {
  const today = new Intl.DateTimeFormat(undefined, { timeStyle: "short" });
  const thisYear = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric", hour: "numeric", minute: "2-digit" });
  const older = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
  const now = new Date();
  for (const el of root.querySelectorAll("time[datetime]")) {
    const raw = el.getAttribute("datetime").replace(/(\.\d{3})\d+/, "$1");
    const when = new Date(/[zZ]|[+-]\d\d:\d\d$/.test(raw) ? raw : raw + "Z");
    if (isNaN(when)) continue;
    const format = when.toDateString() === now.toDateString() ? today
      : when.getFullYear() === now.getFullYear() ? thisYear : older;
    el.title = older.format(when);
    el.textContent = format.format(when);
  }
}

function fillMeters(root) {
  for (const bar of root.querySelectorAll(".meter > span[data-percent]")) {
    bar.style.width = Math.min(100, Math.max(0, Number(bar.dataset.percent))) + "%";
  }
}

function enhance(root) { localiseTimes(root); fillMeters(root); }

function setupCopyButtons() {
  document.addEventListener("click", async (event) => {
    const button = event.target.closest("[data-copy]");
    if (!button) return;
    const text = document.getElementById(button.dataset.copy).textContent.trim();
    try {
      await navigator.clipboard.writeText(text);
      button.textContent = "Copied";
    } catch (e) {
      const range = document.createRange();
      range.selectNodeContents(document.getElementById(button.dataset.copy));
      window.getSelection().removeAllRanges();
      window.getSelection().addRange(range);
      button.textContent = "Selected: press Ctrl+C";
    }
  });
}

function setupConfirmations() {
  document.addEventListener("submit", (event) => {
    const message = event.target.dataset && event.target.dataset.confirm;
    if (message && !window.confirm(message)) event.preventDefault();
  });
}

function setupMenus() {
  // A menu closes once something in it is chosen, or on Escape.
  document.addEventListener("click", (event) => {
    const item = event.target.closest("details.menu .menu-items a");
    if (item) item.closest("details").open = false;
  });
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    for (const menu of document.querySelectorAll("details.menu[open]")) {
      menu.open = false;
      menu.querySelector("summary").focus();
    }
  });
}

function setupTabs() {
  const tabs = [...document.querySelectorAll('[role="tab"]')];
  const select = (tab) => {
    for (const other of tabs) {
      const selected = other === tab;
      other.setAttribute("aria-selected", String(selected));
      other.tabIndex = selected ? 0 : -1;
      document.getElementById(other.getAttribute("aria-controls")).hidden = !selected;
    }
  };
  tabs.forEach((tab, index) => {
    tab.tabIndex = tab.getAttribute("aria-selected") === "true" ? 0 : -1;
    tab.addEventListener("click", () => select(tab));
    tab.addEventListener("keydown", (event) => {
      const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
      if (!step) return;
      const next = tabs[(index + step + tabs.length) % tabs.length];
      select(next);
      next.focus();
    });
  });
}

function setupLiveRefresh() {
  const region = document.querySelector("[data-refresh]");
  if (!region) return;
  const refresh = async () => {
    // Not while hidden, nor while the reader is on something inside (focus would be lost).
    if (document.hidden || region.contains(document.activeElement)) return;
    try {
      const answer = await fetch(region.dataset.refresh, { credentials: "same-origin" });
      if (answer.redirected || !answer.ok) return;
      region.innerHTML = await answer.text();
      enhance(region);
    } catch (e) { /* offline for a moment: try again at the next tick */ }
  };
  setInterval(refresh, 5000);
}

document.addEventListener("DOMContentLoaded", () => {
  setupThemeToggle();
  enhance(document);
  setupCopyButtons();
  setupConfirmations();
  setupMenus();
  setupTabs();
  setupLiveRefresh();
});
