// Herald's pages: the theme (picked, from a Teams tab's URL, or the
// system's), set before the page is drawn, and confirmations for forms
// that cannot be undone.
(function () {
  "use strict";
  var root = document.documentElement;
  root.classList.add("js");
  var themes = { light: "light", dark: "dark", contrast: "contrast", auto: "auto", default: "light" };

  function picked() {
    var fromTeams = new URLSearchParams(window.location.search).get("theme");
    if (fromTeams && themes[fromTeams]) return themes[fromTeams];
    var cookie = document.cookie.match(/(?:^|; )herald_theme=(light|dark|contrast|auto)/);
    return cookie ? cookie[1] : "auto";
  }

  function apply() {
    var choice = picked();
    if (choice === "auto") {
      if (window.matchMedia("(forced-colors: active)").matches) choice = "contrast";
      else choice = window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
    }
    root.setAttribute("data-theme", choice);
    document.dispatchEvent(new CustomEvent("herald:theme", { detail: choice }));
  }

  apply();
  window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", apply);

  document.addEventListener("DOMContentLoaded", function () {
    var select = document.getElementById("theme");
    if (select) {
      select.value = picked();
      select.addEventListener("change", function () {
        document.cookie = "herald_theme=" + select.value + "; path=/; max-age=31536000; samesite=lax";
        apply();
      });
    }
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.getAttribute("data-confirm"))) event.preventDefault();
      });
    });
  });
})();
