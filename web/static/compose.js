// The compose and send pages: the live preview (Microsoft's Adaptive Cards
// renderer with Teams' host configs, fed the card Herald itself builds),
// the audience picker, the CSV check, and the schedule dialog; and the
// cards other pages carry (an edit's review, Announcements for you).
// Every form still posts without this script.
(function () {
  "use strict";

  function csrf() {
    var field = document.querySelector('input[name="csrf"]');
    return field ? field.value : "";
  }

  function answer(response) {
    return response.json().then(function (body) {
      if (!response.ok) throw new Error(body.error || response.statusText);
      return body;
    });
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": csrf(), "Content-Type": "application/x-www-form-urlencoded" },
      body: body
    }).then(answer);
  }

  function get(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } }).then(answer);
  }

  function changed(form) {
    form.dispatchEvent(new Event("input", { bubbles: true }));
  }

  // The light and dark panes of a card preview, drawn with Teams' host
  // configs (named by `holder`'s data attributes): `ready` settles once
  // they are loaded, `show` draws a card in both. Null without the renderer.
  function cardPanes(holder) {
    var panes = { light: document.getElementById("preview-light"), dark: document.getElementById("preview-dark") };
    if (!panes.light || !window.AdaptiveCards || !window.markdownit) return null;
    var markdown = window.markdownit({ html: false, linkify: false, breaks: true });
    window.AdaptiveCards.AdaptiveCard.onProcessMarkdown = function (text, result) {
      result.outputHtml = markdown.render(text);
      result.didProcess = true;
    };
    var configs = {};
    var loads = ["light", "dark"].map(function (name) {
      return fetch(holder.getAttribute("data-hostconfig-" + name)).then(function (r) { return r.json(); })
        .then(function (json) {
          // Microsoft's sample dark config keeps the light one's #EEEEEE
          // separator, a bright line Teams' dark theme does not draw:
          // use the dark theme's divider colour.
          if (name === "dark") json.separator = { lineThickness: 1, lineColor: "#525252" };
          configs[name] = new window.AdaptiveCards.HostConfig(json);
        });
    });
    // The last card shown, drawn again once one of its images loads.
    var lastCard = null;
    var withImages = previewImages(function () { if (lastCard) draw(lastCard); });

    function draw(card) {
      var shown = withImages(card);
      render("light", shown);
      render("dark", shown);
    }

    function render(name, json) {
      var card = new window.AdaptiveCards.AdaptiveCard();
      if (configs[name]) card.hostConfig = configs[name];
      // A preview opens nothing.
      card.onExecuteAction = function () {};
      card.parse(json);
      var element = card.render();
      panes[name].replaceChildren(element || document.createTextNode(""));
    }

    setupTabs();
    return {
      ready: Promise.all(loads),
      show: function (json) {
        lastCard = json;
        draw(json);
      }
    };
  }

  function setupPreview(form) {
    var status = document.getElementById("preview-status");
    var panes = cardPanes(form);
    if (!panes) return;
    var timer = null;
    var asked = 0;
    // Fields the author has changed: their errors show beside them as
    // they type, not before they touch them.
    var touched = {};

    function showBeside(errors) {
      Object.keys(touched).forEach(function (name) {
        var slot = document.getElementById(name + "-error");
        var field = document.getElementById(name);
        if (!slot || !field) return;
        var message = errors[name] || "";
        slot.textContent = message;
        field.setAttribute("aria-invalid", String(!!message));
      });
    }

    function refresh() {
      var mine = ++asked;
      post("/ui/preview", new URLSearchParams(new FormData(form))).then(function (result) {
        if (mine !== asked) return;
        showBeside(result.errors || {});
        if (result.card) {
          panes.show(result.card);
          status.textContent = "The preview shows the card as Teams will.";
          form.setAttribute("data-preview", "ready");
        } else {
          var problems = Object.keys(result.errors).map(function (k) { return result.errors[k]; });
          status.textContent = "The preview appears once these are fixed: " + problems.join(" ");
        }
      }).catch(function (error) {
        status.textContent = "The preview is not available right now: " + error.message;
      });
    }

    form.addEventListener("input", function (event) {
      if (event.target && event.target.id) touched[event.target.id] = true;
      window.clearTimeout(timer);
      timer = window.setTimeout(refresh, 250);
    });
    panes.ready.then(refresh, refresh);
  }

  // The card the review page carries, drawn as the compose page draws it.
  function setupReviewPreview() {
    var holder = document.getElementById("review-preview");
    var data = document.getElementById("review-card");
    if (!holder || !data) return;
    var panes = cardPanes(holder);
    if (!panes) return;
    var card = JSON.parse(data.getAttribute("data-card"));
    var show = function () {
      panes.show(card);
      holder.setAttribute("data-preview", "ready");
    };
    panes.ready.then(show, show);
  }

  // Cards the page carries as JSON, drawn in place in the page's theme (a
  // dark page draws them with Teams' dark config): the review of an edit
  // (before and after) and a person's announcements. Each holder
  // (`data-card-holder`) names the host configs and holds slots
  // (`data-card-json`); it is marked `data-preview="ready"` once drawn.
  // With `data-open-links` a card's buttons open their links, as in
  // Teams; otherwise a card opens nothing, being a preview.
  function setupCards() {
    var holders = document.querySelectorAll("[data-card-holder]");
    if (!holders.length || !window.AdaptiveCards || !window.markdownit) return;
    var markdown = window.markdownit({ html: false, linkify: false, breaks: true });
    window.AdaptiveCards.AdaptiveCard.onProcessMarkdown = function (text, result) {
      result.outputHtml = markdown.render(text);
      result.didProcess = true;
    };
    // Drawn in the page's theme, and again when it changes (Teams tells
    // the tab when its theme changes).
    var drawn = null;
    var drawAll = function () {
      var theme = document.documentElement.getAttribute("data-theme") === "dark" ? "dark" : "light";
      if (theme === drawn) return;
      drawn = theme;
      holders.forEach(function (holder) { drawHolder(holder, theme); });
    };
    drawAll();
    document.addEventListener("herald:theme", drawAll);
  }

  function drawHolder(holder, theme) {
    var opens = holder.hasAttribute("data-open-links");
    var draw = function (json) {
      // As in the previews: Teams' dark theme draws no bright separator.
      if (json && theme === "dark") json.separator = { lineThickness: 1, lineColor: "#525252" };
      var config = json ? new window.AdaptiveCards.HostConfig(json) : null;
      holder.querySelectorAll("[data-card-json]").forEach(function (slot) {
        var card = new window.AdaptiveCards.AdaptiveCard();
        if (config) card.hostConfig = config;
        card.onExecuteAction = function (action) {
          if (opens && action.url) window.open(action.url, "_blank", "noopener");
        };
        card.parse(JSON.parse(slot.getAttribute("data-card-json")));
        slot.classList.remove("light", "dark");
        slot.classList.add(theme);
        slot.replaceChildren(card.render() || document.createTextNode(""));
      });
      holder.setAttribute("data-preview", "ready");
    };
    fetch(holder.getAttribute("data-hostconfig-" + theme))
      .then(function (r) { return r.json(); })
      .then(draw, function () { draw(null); });
  }

  // The preview's images. Each URL is loaded once, by an image of its own,
  // and the card is drawn with the image only once that has loaded: the
  // card is drawn again on every keystroke, and would otherwise ask the
  // image's server again each time for an image that did not load (which
  // no browser keeps). An image that cannot be loaded is left out, as
  // Teams leaves it out, and a note says so. Editing the image URL field
  // tries failed URLs again.
  function previewImages(redraw) {
    var loads = {};
    var note = document.getElementById("preview-image-note");
    var field = document.getElementById("image_url");

    function load(url) {
      var probe = new Image();
      loads[url] = "loading";
      probe.onload = function () { loads[url] = "loaded"; redraw(); };
      probe.onerror = function () { loads[url] = "failed"; redraw(); };
      probe.src = url;
    }

    // Leaves out of a list of card elements the images not loaded (yet).
    function prune(node, failed) {
      if (Array.isArray(node)) {
        for (var i = node.length - 1; i >= 0; i--) {
          var item = node[i];
          if (item && item.type === "Image" && item.url) {
            if (!(item.url in loads)) load(item.url);
            if (loads[item.url] === "failed") failed.push(item.url);
            if (loads[item.url] !== "loaded") { node.splice(i, 1); continue; }
          }
          prune(item, failed);
        }
      } else if (node && typeof node === "object") {
        Object.keys(node).forEach(function (key) { prune(node[key], failed); });
      }
    }

    if (field) {
      field.addEventListener("change", function () {
        Object.keys(loads).forEach(function (url) { if (loads[url] === "failed") delete loads[url]; });
      });
    }
    return function (card) {
      var copy = JSON.parse(JSON.stringify(card));
      var failed = [];
      prune(copy, failed);
      var text = failed.map(function (url) {
        return "The image at " + url + " could not be loaded: Teams will show the card without it.";
      }).join(" ");
      if (note && note.textContent !== text) note.textContent = text;
      return copy;
    };
  }

  // Image upload: a picked or pasted file goes to Herald as it is; the
  // image URL field gets the URL Herald serves it at, which the preview
  // then shows. Without scripts the upload controls stay hidden.
  function setupImageUpload(form) {
    var box = document.getElementById("image-upload");
    var file = document.getElementById("image-file");
    var field = document.getElementById("image_url");
    var status = document.getElementById("image-upload-status");
    if (!box || !file || !field) return;
    box.hidden = false;

    function say(text, failed) {
      status.textContent = text;
      status.className = failed ? "field-error" : "hint";
    }

    function send(chosen) {
      var name = chosen.name || "the pasted image";
      say("Uploading " + name + "…", false);
      fetch("/ui/images", {
        method: "POST",
        credentials: "same-origin",
        headers: { "X-CSRF-Token": csrf(), "Content-Type": chosen.type || "application/octet-stream" },
        body: chosen
      }).then(answer).then(function (result) {
        field.value = result.url;
        field.setAttribute("aria-invalid", "false");
        say("Uploaded " + name + " (" + result.width + " x " + result.height +
          " pixels): its URL is in the image URL field and the preview shows it.", false);
        changed(form);
      }).catch(function (error) {
        say(name + " was not uploaded. " + error.message, true);
      });
    }

    file.addEventListener("change", function () {
      var chosen = file.files[0];
      if (chosen) send(chosen);
      // Picking the same file again (after making it smaller) uploads again.
      file.value = "";
    });
    document.addEventListener("paste", function (event) {
      var files = event.clipboardData ? event.clipboardData.files : [];
      var image = Array.prototype.filter.call(files, function (f) { return /^image\//.test(f.type); })[0];
      if (!image) return;
      event.preventDefault();
      send(image);
    });
  }

  function setupTabs() {
    var tabs = Array.prototype.slice.call(document.querySelectorAll('.tabs [role="tab"]'));
    function select(tab, focus) {
      tabs.forEach(function (other) {
        var on = other === tab;
        other.setAttribute("aria-selected", String(on));
        other.tabIndex = on ? 0 : -1;
        document.getElementById(other.getAttribute("aria-controls")).hidden = !on;
      });
      if (focus) tab.focus();
    }
    // The preview opens on the tab of the page's theme and follows it.
    function follow(theme) {
      var tab = document.getElementById(theme === "dark" ? "tab-dark" : "tab-light");
      if (tab) select(tab, false);
    }
    follow(document.documentElement.getAttribute("data-theme"));
    document.addEventListener("herald:theme", function (event) { follow(event.detail); });
    tabs.forEach(function (tab, index) {
      tab.addEventListener("click", function () { select(tab, true); });
      tab.addEventListener("keydown", function (event) {
        var step = event.key === "ArrowRight" ? 1 : event.key === "ArrowLeft" ? -1 : 0;
        if (step) select(tabs[(index + step + tabs.length) % tabs.length], true);
      });
    });
  }

  function setupPicker(form) {
    var input = document.getElementById("audience-search");
    var list = document.getElementById("audience-results");
    var picked = document.getElementById("picked");
    var live = document.getElementById("audience-status");
    if (!input) return;
    var choices = [];
    var active = -1;
    var timer = null;
    var asked = 0;

    function close() {
      list.hidden = true;
      input.setAttribute("aria-expanded", "false");
      input.removeAttribute("aria-activedescendant");
      active = -1;
    }

    function show(found) {
      choices = found;
      active = -1;
      list.replaceChildren();
      found.forEach(function (choice, index) {
        var option = document.createElement("li");
        option.id = "choice-" + index;
        option.setAttribute("role", "option");
        option.setAttribute("aria-selected", "false");
        option.textContent = choice.label;
        var detail = document.createElement("small");
        detail.textContent = choice.detail;
        option.appendChild(detail);
        option.addEventListener("mousedown", function (event) {
          event.preventDefault();
          choose(choice);
        });
        list.appendChild(option);
      });
      list.hidden = found.length === 0;
      input.setAttribute("aria-expanded", String(found.length > 0));
      live.textContent = found.length
        ? found.length + " matches. Use the up and down arrows, then Enter to add one."
        : "Nothing matches.";
    }

    function move(step) {
      if (!choices.length) return;
      active = (active + step + choices.length) % choices.length;
      Array.prototype.forEach.call(list.children, function (option, index) {
        option.setAttribute("aria-selected", String(index === active));
      });
      input.setAttribute("aria-activedescendant", "choice-" + active);
      list.children[active].scrollIntoView({ block: "nearest" });
    }

    function search() {
      var text = input.value.trim();
      var mine = ++asked;
      if (!text) { close(); return; }
      get("/ui/audience/search?q=" + encodeURIComponent(text)).then(function (result) {
        if (mine === asked) show(result.choices);
      }).catch(function (error) { live.textContent = error.message; });
    }

    function add(spec, label) {
      var exists = Array.prototype.some.call(picked.querySelectorAll('input[name="target"]'), function (field) {
        return field.value === spec;
      });
      if (exists) return;
      var item = document.createElement("li");
      var text = document.createElement("span");
      text.textContent = label;
      item.appendChild(text);
      [["target", spec], ["target_label", label]].forEach(function (pair) {
        var field = document.createElement("input");
        field.type = "hidden";
        field.name = pair[0];
        field.value = pair[1];
        item.appendChild(field);
      });
      var remove = document.createElement("button");
      remove.type = "button";
      remove.className = "subtle remove";
      remove.textContent = "Remove";
      remove.setAttribute("aria-label", "Remove " + label);
      item.appendChild(remove);
      picked.appendChild(item);
    }

    function choose(choice) {
      if (!choice.spec && choice.team) {
        live.textContent = "Loading the channels of " + choice.team_name + "…";
        get("/ui/audience/channels?team=" + encodeURIComponent(choice.team) + "&name=" + encodeURIComponent(choice.team_name))
          .then(function (result) { show(result.choices); input.focus(); })
          .catch(function (error) { live.textContent = error.message; });
        return;
      }
      add(choice.spec, choice.label);
      input.value = "";
      close();
      live.textContent = choice.label + " added to the audience.";
      input.focus();
      changed(form);
    }

    input.addEventListener("input", function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(search, 250);
    });
    input.addEventListener("keydown", function (event) {
      if (event.key === "ArrowDown") { move(1); event.preventDefault(); }
      else if (event.key === "ArrowUp") { move(-1); event.preventDefault(); }
      else if (event.key === "Enter") {
        // Enter picks; it never submits the form from here.
        event.preventDefault();
        if (active >= 0) choose(choices[active]);
      } else if (event.key === "Escape") { close(); }
    });
    input.addEventListener("blur", function () { window.setTimeout(close, 150); });
    picked.addEventListener("click", function (event) {
      if (!event.target.classList.contains("remove")) return;
      var label = event.target.parentNode.querySelector("span").textContent;
      event.target.parentNode.remove();
      live.textContent = label + " removed.";
      input.focus();
      changed(form);
    });
  }

  function setupList(form) {
    var file = document.getElementById("csv-file");
    var text = document.getElementById("csv");
    var name = document.getElementById("csv_name");
    var report = document.getElementById("csv-report");
    if (!file) return;
    file.addEventListener("change", function () {
      var chosen = file.files[0];
      if (!chosen) return;
      chosen.arrayBuffer().then(function (buffer) {
        var content = listText(new Uint8Array(buffer));
        if (content === null) {
          throw new Error(chosen.name + " is not a text CSV file (it holds binary data, like a workbook or a picture): " +
            "in Excel, save the list as \"CSV UTF-8 (Comma delimited)\" or \"Unicode Text\", or paste one person per line.");
        }
        var body = new URLSearchParams();
        body.set("csv_name", chosen.name);
        body.set("csv", content);
        report.textContent = "Checking " + chosen.name + " against the directory…";
        return post("/ui/audience/people", body);
      }).then(function (result) {
        name.value = result.name;
        text.value = result.found.join("\n");
        var line = result.found.length + (result.found.length === 1 ? " person" : " people") + " found in " + result.name + ".";
        if (result.unknown.length) {
          line += " " + result.unknown.length + (result.unknown.length === 1 ? " row matches" : " rows match") +
            " nobody and will not be sent to: " + result.unknown.join(", ") + ".";
        }
        report.textContent = line;
        changed(form);
      }).catch(function (error) { report.textContent = error.message; });
    });
  }

  // A list file's text, read as the server reads one: UTF-8, or UTF-16
  // with its byte order mark (Excel's "Unicode Text"); null for anything
  // else, such as a workbook or a picture picked by mistake.
  function listText(bytes) {
    var encoding = "utf-8";
    if (bytes[0] === 0xff && bytes[1] === 0xfe) encoding = "utf-16le";
    else if (bytes[0] === 0xfe && bytes[1] === 0xff) encoding = "utf-16be";
    try {
      var text = new TextDecoder(encoding, { fatal: true }).decode(bytes);
      return /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(text) ? null : text;
    } catch (error) {
      return null;
    }
  }

  function pad(number) { return (number < 10 ? "0" : "") + number; }

  function setupSchedule() {
    var dialog = document.getElementById("schedule-dialog");
    if (!dialog) return;
    var opener = document.getElementById("open-schedule");
    var at = document.getElementById("schedule-at");
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
    if (zone) document.getElementById("zone-name").textContent = "(" + zone + ")";
    // Without scripts the dialog is a section of the page; with them it
    // opens on demand, or at once when the server refused a time.
    dialog.close();
    dialog.removeAttribute("data-inline");
    if (dialog.hasAttribute("data-error")) dialog.showModal();
    opener.addEventListener("click", function () {
      if (!at.value) {
        var soon = new Date(Date.now() + 60 * 60 * 1000);
        soon.setMinutes(Math.ceil(soon.getMinutes() / 15) * 15, 0, 0);
        at.value = soon.getFullYear() + "-" + pad(soon.getMonth() + 1) + "-" + pad(soon.getDate()) +
          "T" + pad(soon.getHours()) + ":" + pad(soon.getMinutes());
      }
      dialog.showModal();
      at.focus();
    });
    document.getElementById("schedule-close").addEventListener("click", function () {
      dialog.close();
      opener.focus();
    });
    document.getElementById("schedule-form").addEventListener("submit", function () {
      var offset = document.getElementById("offset_minutes");
      var local = new Date(at.value);
      if (!isNaN(local.getTime())) {
        offset.value = String(local.getTimezoneOffset());
        offset.disabled = false;
      }
      document.getElementById("time_zone").value = zone;
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    // A form shown again with its problems: the list of them is read
    // first, wherever the page was scrolled.
    var problems = document.getElementById("form-errors");
    if (problems) {
      problems.focus();
      // A problem's link takes the focus to its field, clear of the
      // sticky buttons.
      problems.addEventListener("click", function (event) {
        var link = event.target.closest('a[href^="#"]');
        var field = link && document.getElementById(link.getAttribute("href").slice(1));
        if (!field) return;
        event.preventDefault();
        field.scrollIntoView({ block: "center" });
        field.focus();
      });
    }
    var form = document.getElementById("compose");
    setupReviewPreview();
    setupCards();
    if (form) {
      setupPreview(form);
      setupPicker(form);
      setupList(form);
      setupImageUpload(form);
    }
    setupSchedule();
  });
})();
