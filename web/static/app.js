// Herald's pages: the theme (picked, from a Teams tab's URL, or the
// system's), set before the page is drawn, confirmations for forms that
// cannot be undone, and the progress of a send kept up to date.
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

  // A send that is running or scheduled: its progress is read again every
  // few seconds and changed in place. A reload instead would take the
  // reader and the focus back to the top of the page each time.
  function follow(section) {
    var seconds = Number(section.getAttribute("data-refresh")) || 5;
    var timer = window.setInterval(function () {
      fetch(window.location.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
        .then(function (response) {
          if (response.redirected) {
            // No longer an announcement (a schedule canceled elsewhere).
            window.clearInterval(timer);
            window.location.assign(response.url);
            return null;
          }
          return response.ok ? response.text() : null;
        })
        .then(function (html) {
          if (!html) return;
          var next = new DOMParser().parseFromString(html, "text/html");
          var nextSection = next.getElementById("progress");
          if (!nextSection) return;
          var status = document.getElementById("status");
          var nextStatus = next.getElementById("status");
          if (status && nextStatus && status.textContent !== nextStatus.textContent) {
            status.className = nextStatus.className;
            status.textContent = nextStatus.textContent;
          }
          var live = document.getElementById("progress-live");
          live.replaceChildren.apply(live, Array.prototype.slice.call(next.getElementById("progress-live").childNodes));
          var form = document.getElementById("cancel-form");
          var nextForm = next.getElementById("cancel-form");
          if (form && nextForm) {
            form.setAttribute("data-confirm", nextForm.getAttribute("data-confirm"));
            document.getElementById("cancel").textContent = next.getElementById("cancel").textContent;
          } else if (form) {
            form.remove();
          }
          if (!nextSection.hasAttribute("data-refresh")) window.clearInterval(timer);
        })
        .catch(function () { /* Try again at the next tick. */ });
    }, seconds * 1000);
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
    var progress = document.querySelector("[data-refresh]");
    if (progress) follow(progress);
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.getAttribute("data-confirm"))) event.preventDefault();
      });
    });
  });
})();
