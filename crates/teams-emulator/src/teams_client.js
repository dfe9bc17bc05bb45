// The host side of @microsoft/teams-js (2.58.0): answers the tab framed in
// this page, and its authentication pop-up, as the Teams web client does.
// See teams_client.rs for why.
//
// The library posts requests {id, uuidAsString, func, args, ...} to its
// parent (the tab) or its opener (the pop-up); the host answers
// {id, uuidAsString, args} to the window and origin the request came from.
// Host-initiated events carry no id: {func, args}.
"use strict";

(() => {
  const data = JSON.parse(document.getElementById("teams-client-data").textContent);
  const frame = document.getElementById("tab");
  const log = document.getElementById("host-log");

  // The Teams version the host claims to support; the library only parses it.
  const CLIENT_SDK_VERSION = "2.58.0";
  const HOST_CLIENT_TYPE = "web";
  // What this host answers, in the runtime config the library expects
  // (apiVersion 4 is its latestRuntimeApiVersion; an older one would be
  // fast-forwarded, a newer one refused). Only capabilities this page
  // really answers are listed, so a tab that checks isSupported() learns
  // the truth. notifySuccessResponse: the host answers
  // appInitialization.success, so app.notifySuccess() resolves.
  const RUNTIME_CONFIG = JSON.stringify({
    apiVersion: 4,
    hostVersionsInfo: { adaptiveCardSchemaVersion: { majorVersion: 1, minorVersion: 5 } },
    isLegacyTeams: false,
    isNAAChannelRecommended: false,
    supports: {
      app: { notifySuccessResponse: {} },
      authentication: {},
      teamsCore: {},
    },
  });
  // ErrorCode.NOT_SUPPORTED_ON_PLATFORM, as an SdkError.
  const NOT_SUPPORTED = 100;
  // Teams' default size of the authentication window.
  const POPUP_WIDTH = 600;
  const POPUP_HEIGHT = 535;
  // The authentication window's name: whoever plays the person's browser
  // (a test) can reach it with window.open(url, name) from this page, as
  // Entra's redirect would take it on, without cutting it from its opener.
  const POPUP_NAME = "teams-authentication";

  let theme = data.theme;
  // The authentication pop-up in progress: {popup, origins, answer, watch}.
  let auth = null;

  function note(text) {
    const item = document.createElement("li");
    item.textContent = text;
    log.appendChild(item);
    log.parentElement.scrollTop = log.parentElement.scrollHeight;
  }

  // The context before TeamsJS v2 named it; the library turns it into
  // app.Context (transformLegacyContextToAppContext).
  function legacyContext(frameContext) {
    return {
      entityId: data.entityId,
      subEntityId: "",
      locale: data.locale,
      theme,
      loginHint: data.user.upn,
      userPrincipalName: data.user.upn,
      userObjectId: data.user.id,
      userDisplayName: data.user.name,
      tid: data.user.tenantId,
      tenantSKU: "enterprise",
      userLicenseType: "Unknown",
      hostClientType: HOST_CLIENT_TYPE,
      hostName: "Teams",
      frameContext,
      appSessionId: data.appSessionId,
      sessionId: data.sessionId,
      ringId: "general",
      isFullScreen: false,
      isMultiWindow: false,
      userClickTime: Date.now(),
    };
  }

  // The host part of api://{host}/{app id}; Teams refuses SSO when it is
  // not the tab's own host.
  function resourceMatchesTab() {
    const match = /^api:\/\/([^/]+)\//.exec(data.resource);
    if (!match) {
      return true; // The token service says what is wrong with it.
    }
    try {
      return new URL("https://" + match[1]).hostname === new URL(data.tabUrl).hostname;
    } catch (_) {
      return false;
    }
  }

  async function getAuthToken(answer, who) {
    const name = "authentication.getAuthToken" + who;
    if (data.consent === "missing") {
      answer([false, "resourceRequiresConsent"]);
      note(name + ": failed: resourceRequiresConsent");
      return;
    }
    if (!resourceMatchesTab()) {
      const reason = "App resource defined in manifest and iframe origin do not match";
      answer([false, reason]);
      note(name + ": failed: " + reason);
      return;
    }
    let reason = "tokenRequestFailed";
    try {
      const response = await fetch(data.tokenUrl, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ user: data.user.upn, resource: data.resource }),
        credentials: "same-origin",
        cache: "no-store",
      });
      const body = await response.json();
      if (response.ok && typeof body.token === "string") {
        answer([true, body.token]);
        note(name + ": token issued");
        return;
      }
      if (typeof body.error === "string") {
        reason = body.error;
      }
    } catch (_) {
      // The emulator is gone or answered something other than JSON.
    }
    answer([false, reason]);
    note(name + ": failed: " + reason);
  }

  function authenticate(args, answer) {
    const [url, width, height, isExternal] = args;
    if (auth) {
      answer([false, "An authentication window is already open"]);
      note("authentication.authenticate: refused, a pop-up is already open");
      return;
    }
    let target;
    try {
      target = new URL(url);
    } catch (_) {
      target = null;
    }
    if (!target || (target.protocol !== "https:" && target.protocol !== "http:")) {
      answer([false, "InvalidUrl"]);
      note("authentication.authenticate: failed: not an http(s) URL");
      return;
    }
    const w = Number.isFinite(width) && width > 0 ? Math.round(width) : POPUP_WIDTH;
    const h = Number.isFinite(height) && height > 0 ? Math.round(height) : POPUP_HEIGHT;
    const left = Math.round(window.screenX + Math.max(0, (window.outerWidth - w) / 2));
    const top = Math.round(window.screenY + Math.max(0, (window.outerHeight - h) / 2));
    const popup = window.open(target.href, POPUP_NAME, `width=${w},height=${h},left=${left},top=${top}`);
    if (!popup) {
      answer([false, "FailedToOpenWindow"]);
      note("authentication.authenticate: failed: FailedToOpenWindow");
      return;
    }
    auth = {
      popup,
      // Where the flow ends: the page it started on, or the tab's site.
      origins: [target.origin, data.tabOrigin],
      answer,
      watch: window.setInterval(() => {
        if (popup.closed) {
          finishAuthentication(false, "CancelledByUser");
        }
      }, 250),
    };
    note(
      "authentication.authenticate: pop-up opened at " + target.origin +
        (isExternal ? " (asked for an external browser)" : ""),
    );
  }

  function finishAuthentication(success, value) {
    const current = auth;
    if (!current) {
      return;
    }
    auth = null;
    window.clearInterval(current.watch);
    if (!current.popup.closed) {
      current.popup.close();
    }
    current.answer([success, value]);
    note("authentication.authenticate: " + (success ? "succeeded" : "failed: " + value));
  }

  function handle(from, message, answer) {
    const frameContext = from === "tab" ? "content" : "authentication";
    const who = from === "tab" ? "" : " (pop-up)";
    const args = Array.isArray(message.args) ? message.args : [];
    const func = message.func;
    switch (func) {
      case "initialize":
        answer([frameContext, HOST_CLIENT_TYPE, RUNTIME_CONFIG, CLIENT_SDK_VERSION]);
        note("initialize" + who + ": answered as " + frameContext);
        break;
      case "getContext":
        answer([legacyContext(frameContext)]);
        note("getContext" + who + ": answered");
        break;
      case "authentication.getAuthToken":
        getAuthToken(answer, who);
        break;
      case "authentication.authenticate":
        if (from === "tab") {
          authenticate(args, answer);
        } else {
          answer([false, "An authentication window cannot open another"]);
          note("authentication.authenticate" + who + ": refused");
        }
        break;
      case "authentication.authenticate.success":
      case "authentication.authenticate.failure":
        // The result itself is the app's secret business: never shown.
        note(func + who);
        if (from === "popup") {
          finishAuthentication(func.endsWith(".success"), args[0]);
        }
        break;
      case "registerHandler":
        note("registerHandler" + who + ": " + String(args[0]));
        break;
      case "appInitialization.appLoaded":
        note("appInitialization.appLoaded" + who);
        break;
      case "appInitialization.success":
        answer([]);
        note("appInitialization.success" + who + ": the tab is ready");
        break;
      case "appInitialization.failure":
      case "appInitialization.expectedFailure":
        // args[2] may be an auth header: only the reason is shown.
        note(func + who + ": " + String(args[0]));
        break;
      case "readyToUnload":
      case "setFrameContext":
      case "returnFocus":
        note(func + who);
        break;
      default:
        answer([{ errorCode: NOT_SUPPORTED, message: func + " is not supported by the Teams emulator" }]);
        note(func + who + ": not supported here");
    }
  }

  window.addEventListener("message", (event) => {
    const message = event.data;
    if (!message || typeof message !== "object" || typeof message.func !== "string") {
      return;
    }
    let from;
    let origins;
    if (event.source && event.source === frame.contentWindow) {
      from = "tab";
      origins = [data.tabOrigin];
    } else if (auth && event.source === auth.popup) {
      from = "popup";
      origins = auth.origins;
    } else {
      return;
    }
    if (!origins.includes(event.origin)) {
      note("ignored " + message.func + " from " + event.origin);
      return;
    }
    const source = event.source;
    const origin = event.origin;
    const answer = (args) => {
      const response = { id: message.id, args };
      if (typeof message.uuidAsString === "string") {
        response.uuidAsString = message.uuidAsString;
      }
      source.postMessage(response, origin);
    };
    handle(from, message, answer);
  });

  function showTheme(next) {
    theme = next;
    document.documentElement.dataset.theme = next;
    for (const button of document.querySelectorAll("[data-theme-choice]")) {
      button.setAttribute("aria-pressed", String(button.dataset.themeChoice === next));
    }
  }

  for (const button of document.querySelectorAll("[data-theme-choice]")) {
    button.addEventListener("click", () => {
      const next = button.dataset.themeChoice;
      showTheme(next);
      if (frame.contentWindow) {
        frame.contentWindow.postMessage({ func: "themeChange", args: [next] }, data.tabOrigin);
        note("themeChange: " + next + " sent to the tab");
      }
    });
  }

  showTheme(theme);
  // Last, so that the tab's first message finds the listener in place.
  frame.src = data.tabUrl;
})();
