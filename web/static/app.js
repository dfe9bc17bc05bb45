// Herald's pages: the theme (picked, from a Teams tab's URL, or the
// system's), set before the page is drawn, confirmations for forms that
// cannot be undone, and the progress of a send kept up to date live.
(function () {
  "use strict";
  var root = document.documentElement;
  root.classList.add("js");
  var themes = { light: "light", dark: "dark", contrast: "contrast", auto: "auto", default: "light" };

  // Inside Teams the theme is Teams': the tab's URL names it, and
  // teams.js keeps what Teams reports (at start and on every change) for
  // the frame's later pages.
  function picked() {
    var fromTeams = new URLSearchParams(window.location.search).get("theme");
    if (fromTeams && themes[fromTeams]) return themes[fromTeams];
    var kept = null;
    try { kept = window.sessionStorage.getItem("herald-teams-theme"); } catch (e) { kept = null; }
    if (kept && themes[kept]) return themes[kept];
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
    var cell = document.createElement("td");
    cell.className = "number";
    cell.id = "count-" + count.status;
    cell.textContent = number(count.count);
    row.append(name, cell);
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
    var finished = number(progress.finished), total = number(progress.total);
    bar.setAttribute("aria-valuetext", progress.canceled
      ? progress.percent + " % delivered: " + number(progress.delivered) + " of " + total + " recipients got it"
      : progress.percent + " %: " + finished + " of " + total + " recipients done");
    text("percent", progress.percent + " %");
    text("finished", finished);
    text("total", total);
    shown("done-text", !progress.canceled);
    text("ended", canceledText(progress.canceled));
    shown("ended", !!progress.canceled);
    text("rate", progress.rate ? decimal(progress.rate, 1) + "/s" : "");
    shown("pace", !!progress.rate);
    text("time-left", progress.time_left ? "· " + progress.time_left + " left" : "");
    text("delivered", number(progress.delivered));
    text("read", number(progress.read));
    text("acknowledged", number(progress.acknowledged));
    // Markup the server drew from numbers alone.
    document.getElementById("chart").innerHTML = progress.chart;
    localTimes(document.getElementById("chart"));
    var body = document.querySelector("#counts tbody");
    body.replaceChildren.apply(body, progress.counts.map(function (count) { return countsRow(progress.id, count); }));
    var form = document.getElementById("cancel-form");
    if (form && progress.done) form.remove();
    showChange(progress.change);
  }

  // The latest edit or recall reaching people (live.rs, ChangeProgress).
  function showChange(change) {
    var bar = document.getElementById("change-bar");
    if (!change || !bar) return;
    bar.value = change.percent;
    bar.textContent = change.percent + " %";
    bar.setAttribute("aria-valuetext", change.doing + ": " + change.done + " of " + change.total + " cards");
    var line = document.getElementById("change-text");
    var strong = document.createElement("strong");
    strong.textContent = change.doing;
    line.replaceChildren(strong, document.createTextNode(": " + number(change.done) + " of " + number(change.total) +
      " cards" + (change.outcome ? " (" + change.outcome + ")" : "") + (change.complete ? ", done" : "")));
  }

  // The sentence the server writes for a canceled send (live.rs,
  // `Canceled::sentence`), in this reader's zone and locale.
  function canceledText(canceled) {
    if (!canceled) return "";
    var at = canceled.at ? " at " + when(canceled.at) : "";
    var by = canceled.by ? " by " + canceled.by : "";
    if (canceled.got_it === 0 && canceled.did_not === 0) return "Canceled" + at + by + " before it was sent.";
    return "Canceled" + at + by + ": " + number(canceled.got_it) + " got it, " + number(canceled.did_not) + " did not.";
  }

  // "3 Dec 2026 07:40 CET", as `Viewer::time` writes it.
  function when(iso) {
    var zone = root.getAttribute("data-zone") || "UTC";
    var parts = {};
    try {
      new Intl.DateTimeFormat("en-GB", {
        timeZone: zone, day: "numeric", month: "short", year: "numeric",
        hour: "2-digit", minute: "2-digit", hourCycle: "h23"
      }).formatToParts(new Date(iso)).forEach(function (part) { parts[part.type] = part.value; });
    } catch (e) { return iso; }
    return parts.day + " " + parts.month + " " + parts.year + " " + parts.hour + ":" + parts.minute + " " +
      (root.getAttribute("data-zone-abbr") || "UTC");
  }

  function follow(section) {
    if (!window.EventSource) return;
    var source = new EventSource(section.getAttribute("data-events"));
    source.addEventListener("progress", function (event) {
      show(section, JSON.parse(event.data));
    });
  }

  // The server writes times in the zone kept in this cookie: the
  // browser's own. Kept current here, before anything else is shown (the
  // sign-in page sets it), and again when the device moves zones.
  function keepZone() {
    var zone;
    try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) { return; }
    if (!zone) return;
    var kept = document.cookie.match(/(?:^|; )herald_tz=([^;]*)/);
    if (!kept || decodeURIComponent(kept[1]) !== zone) keepCookie("herald_tz", zone);
  }

  // A cookie of the reader's own. In a frame of another site (the Teams
  // tab) browsers keep only a partitioned one, which must be Secure and
  // SameSite=None.
  function keepCookie(name, value) {
    var framed = window.self !== window.top;
    var where = framed ? "; secure; samesite=none; partitioned" : "; samesite=lax";
    document.cookie = name + "=" + encodeURIComponent(value) + "; path=/; max-age=31536000" + where;
  }

  // Numbers and times the live updates bring, written as the server
  // writes them for this reader (see the data- attributes of <html>).
  function number(value) {
    var group = root.getAttribute("data-group") || ",";
    var digits = String(Math.abs(Math.round(value)));
    var out = "";
    for (var i = 0; i < digits.length; i++) {
      if (i > 0 && (digits.length - i) % 3 === 0) out += group;
      out += digits[i];
    }
    return (value < 0 ? "-" : "") + out;
  }

  function decimal(value, places) {
    var parts = Math.abs(value).toFixed(places).split(".");
    var mark = root.getAttribute("data-decimal") || ".";
    return (value < 0 ? "-" : "") + number(Number(parts[0])) + (parts[1] ? mark + parts[1] : "");
  }

  function localTimes(container) {
    var zone = root.getAttribute("data-zone") || "UTC";
    container.querySelectorAll("[data-at]").forEach(function (element) {
      var at = new Date(element.getAttribute("data-at"));
      if (isNaN(at)) return;
      var options = { timeZone: zone, hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" };
      try { element.textContent = new Intl.DateTimeFormat("en-GB", options).format(at); } catch (e) { /* keep the server's */ }
    });
    container.querySelectorAll("[data-zone-label]").forEach(function (element) {
      element.textContent = root.getAttribute("data-zone-abbr") || "UTC";
    });
  }

  // On a phone the header is a menu: the button opens it, Escape or a
  // click elsewhere closes it, and focus goes back to the button.
  function menu() {
    var toggle = document.getElementById("menu-toggle");
    if (!toggle) return;
    var bar = toggle.closest(".bar");
    function set(open) {
      bar.classList.toggle("open", open);
      toggle.setAttribute("aria-expanded", open ? "true" : "false");
    }
    toggle.addEventListener("click", function () {
      var open = !bar.classList.contains("open");
      set(open);
      if (open) {
        var first = bar.querySelector(".site-menu a, .site-menu select");
        if (first) first.focus();
      }
    });
    bar.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && bar.classList.contains("open")) {
        set(false);
        toggle.focus();
      }
    });
    document.addEventListener("click", function (event) {
      if (bar.classList.contains("open") && !bar.contains(event.target)) set(false);
    });
  }

  window.herald = { number: number, decimal: decimal, applyTheme: apply, keepCookie: keepCookie };

  keepZone();
  apply();
  window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", apply);

  document.addEventListener("DOMContentLoaded", function () {
    var select = document.getElementById("theme");
    if (select) {
      select.value = picked();
      select.addEventListener("change", function () {
        keepCookie("herald_theme", select.value);
        apply();
      });
    }
    menu();
    localTimes(document);
    var progress = document.querySelector("[data-events]");
    if (progress) follow(progress);
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.getAttribute("data-confirm"))) event.preventDefault();
      });
    });
    copyButtons();
  });

  // Buttons that copy a block's text (the API reference's curl examples);
  // without a clipboard the text is still there to select.
  function copyButtons() {
    document.querySelectorAll("button[data-copy]").forEach(function (button) {
      var source = document.getElementById(button.getAttribute("data-copy"));
      if (!source || !navigator.clipboard) return;
      button.hidden = false;
      button.addEventListener("click", function () {
        navigator.clipboard.writeText(source.textContent).then(function () {
          button.textContent = "Copied";
          setTimeout(function () { button.textContent = "Copy"; }, 2000);
        });
      });
    });
  }
})();
