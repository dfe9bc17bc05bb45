// Herald inside Teams, on the Teams JavaScript library (vendored
// teams-js, `window.microsoftTeams`). On every page Teams frames: follow
// Teams' theme (at start and when it changes) and keep Teams' locale for
// the server's dates and numbers. On the tab's first page (#teams-tab):
// sign in with Teams' token, or with Teams' pop-up where Teams cannot give
// one. In the pop-up (#teams-done): hand the sign-in back to the tab.
(function () {
  "use strict";
  var teams = window.microsoftTeams;
  var root = document.documentElement;
  var themes = { default: "light", dark: "dark", contrast: "contrast" };

  function hosts() {
    try { return JSON.parse(root.getAttribute("data-teams-hosts") || "[]"); } catch (e) { return []; }
  }

  function followTheme(theme) {
    var choice = themes[theme] || "light";
    try { window.sessionStorage.setItem("herald-teams-theme", choice); } catch (e) { /* private mode */ }
    if (window.herald) window.herald.applyTheme();
  }

  // The server writes dates and numbers for this locale (the viewer's
  // `herald_locale` cookie): reload once when Teams' differs from it.
  function keepLocale(locale) {
    if (!locale || !window.herald) return false;
    var kept = document.cookie.match(/(?:^|; )herald_locale=([^;]*)/);
    if (kept && decodeURIComponent(kept[1]) === locale) return false;
    window.herald.keepCookie("herald_locale", locale);
    return true;
  }

  function say(text) {
    var status = document.getElementById("teams-status");
    if (status) status.textContent = text;
  }

  function exchange(body) {
    return fetch("/ui/teams/sign-in", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.json().then(function (answer) {
        if (!response.ok) throw new Error(answer.error || "Herald refused the sign-in");
        return answer;
      });
    });
  }

  // The tab: Teams' token first; the pop-up when Teams has none to give
  // (consent missing, an old client), started by a press as Teams asks.
  function signIn(tab, context) {
    var next = tab.getAttribute("data-return-to") || "/";
    var button = document.getElementById("teams-pop-up");
    var go = function (answer) {
      say("Signed in as " + answer.name + ". Opening Herald…");
      window.location.replace(next);
    };
    var failed = function (error) {
      say("Signing in did not work: " + error.message + " Try again, or ask your Herald admin.");
      button.hidden = false;
    };
    button.addEventListener("click", function () {
      say("Signing in in a small window…");
      var hint = (context.user && context.user.loginHint) || "";
      teams.authentication.authenticate({
        url: window.location.origin + "/auth/teams/start?login_hint=" + encodeURIComponent(hint),
        width: 600,
        height: 535
      }).then(function (code) { return exchange({ code: code }); }).then(go, failed);
    });
    if (tab.hasAttribute("data-signed-out")) {
      button.hidden = false;
      return;
    }
    teams.authentication.getAuthToken().then(function (token) {
      return exchange({ token: token }).then(go, failed);
    }, function (error) {
      say("Teams could not sign you in by itself (" + error.message + "). Sign in once in a small window:");
      button.hidden = false;
    });
  }

  function start() {
    var tab = document.getElementById("teams-tab");
    var done = document.getElementById("teams-done");
    if (!teams) {
      say("This is Herald's tab for Microsoft Teams; open Herald in your browser instead.");
      return;
    }
    teams.app.initialize(hosts()).then(function () {
      if (done) {
        teams.authentication.notifySuccess(done.getAttribute("data-code"));
        return null;
      }
      return teams.app.getContext();
    }).then(function (context) {
      if (!context) return;
      followTheme(context.app && context.app.theme);
      teams.app.registerOnThemeChangeHandler(followTheme);
      teams.app.notifySuccess();
      var reload = keepLocale(context.app && context.app.locale);
      if (tab) signIn(tab, context);
      else if (reload) window.location.reload();
    }).catch(function () {
      say("Herald's tab runs inside Microsoft Teams; here, open Herald in your browser instead.");
      var link = document.getElementById("teams-browser");
      if (link) link.hidden = false;
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
