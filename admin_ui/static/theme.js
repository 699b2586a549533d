// Runs before the page paints: apply the theme chosen with the toggle, if any.
(function () {
  try {
    var chosen = localStorage.getItem("vomeet-theme");
    if (chosen === "light" || chosen === "dark") document.documentElement.dataset.theme = chosen;
  } catch (e) { /* storage may be disabled: follow the system */ }
})();
