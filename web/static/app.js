// Herald's pages: the theme (picked, from a Teams tab's URL, or the
// system's), set before the page is drawn, confirmations for forms that
// cannot be undone, and the progress of a send kept up to date live.
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

  // The status page follows its announcement over server-sent events: one
  // stream per reader, fed by one reader of the database per server, so
  // however many watch, nothing polls. Fields change in place, keeping the
  // reader's place and focus.
  function text(id, value) {
    var element = document.getElementById(id);
    if (element && element.textContent !== String(value)) element.textContent = value;
  }

  function countsRow(id, count) {
    var row = document.createElement("tr");
    var name = document.createElement("td");
    var link = document.createElement("a");
    link.href = "/announcements/" + id + "/recipients?status=" + encodeURIComponent(count.status);
    var badge = document.createElement("span");
    badge.className = "status status-" + count.status;
    badge.textContent = count.status;
    link.appendChild(badge);
    name.appendChild(link);
    var number = document.createElement("td");
    number.className = "number";
    number.id = "count-" + count.status;
    number.textContent = count.count;
    row.append(name, number);
    return row;
  }

  function shown(id, visible) {
    var element = document.getElementById(id);
    if (element) element.hidden = !visible;
  }

  function show(section, progress) {
    if (progress.status === "draft") {
      // The schedule was taken off elsewhere: it is a draft again.
      window.location.assign("/drafts/" + progress.id);
      return;
    }
    if (section.getAttribute("data-status") === "scheduled") {
      // The page of a schedule shows the card; once it goes out (or is
      // canceled elsewhere) the progress page takes over.
      if (progress.status !== "scheduled") window.location.reload();
      return;
    }
    var status = document.getElementById("status");
    status.className = "status status-" + progress.status;
    text("status", progress.status_label);
    var bar = document.getElementById("progress-bar");
    bar.value = progress.percent;
    bar.textContent = progress.percent + " %";
    bar.setAttribute("aria-valuetext", progress.bar_text);
    text("percent", progress.percent + " %");
    text("finished", progress.finished);
    text("total", progress.total);
    shown("done-text", !progress.ended);
    text("ended", progress.ended || "");
    shown("ended", !!progress.ended);
    text("rate", progress.rate_text || "");
    shown("pace", !!progress.rate_text);
    text("time-left", progress.time_left ? "· " + progress.time_left + " left" : "");
    text("delivered", progress.delivered);
    text("read", progress.read);
    text("acknowledged", progress.acknowledged);
    // Markup the server drew from numbers alone.
    document.getElementById("chart").innerHTML = progress.chart;
    var body = document.querySelector("#counts tbody");
    body.replaceChildren.apply(body, progress.counts.map(function (count) { return countsRow(progress.id, count); }));
    var form = document.getElementById("cancel-form");
    if (form && progress.done) form.remove();
  }

  function follow(section) {
    if (!window.EventSource) return;
    var source = new EventSource(section.getAttribute("data-events"));
    source.addEventListener("progress", function (event) {
      show(section, JSON.parse(event.data));
    });
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
    var progress = document.querySelector("[data-events]");
    if (progress) follow(progress);
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.getAttribute("data-confirm"))) event.preventDefault();
      });
    });
  });
})();
