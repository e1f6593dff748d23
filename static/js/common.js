// What every page script shares, exposed as window.NetCop: the page config (the server's user
// messages), ids, money (strings and integer cents, never floats), the one amount rule, JSON POSTs
// with the page's CSRF token, the nav balance, and the one way to answer what can go wrong: errors,
// busy buttons, a session that ended (401) and too many attempts (429, counted down).
(function () {
  "use strict";

  // The wallet's currency comes from the server (settings.WALLET_CURRENCY) via <body data-currency>.
  var currency = (document.body && document.body.getAttribute("data-currency")) || "";

  // The page config base.html renders (netcop_hub/pageconfig.py): every user message a script shows
  // lives once, on the server.
  var configNode = document.getElementById("page-config");
  var config = configNode ? JSON.parse(configNode.textContent) : {};
  var messages = config.messages || {};

  // The server's message `name`, its {placeholders} filled from params.
  function message(name, params) {
    var text = messages[name] || messages.generic || "";
    return text.replace(/\{(\w+)\}/g, function (whole, key) {
      return params && params[key] !== undefined ? String(params[key]) : whole;
    });
  }

  var MAX_INTEGER_DIGITS = config.maxIntegerDigits || 10; // wallet/money.py MAX_AMOUNT

  function uuid() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") {
      return window.crypto.randomUUID();
    }
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    bytes[6] = (bytes[6] & 0x0f) | 0x40; // version 4
    bytes[8] = (bytes[8] & 0x3f) | 0x80; // variant 10
    var hex = Array.prototype.map.call(bytes, function (b) {
      return (b + 0x100).toString(16).slice(1);
    }).join("");
    return hex.slice(0, 8) + "-" + hex.slice(8, 12) + "-" + hex.slice(12, 16) + "-" +
      hex.slice(16, 20) + "-" + hex.slice(20);
  }

  // "1234.5" -> "1,234.50 AED", "-5" -> "−5.00 AED" (the real minus sign, as the server writes it:
  // wallet/formatting.py), from the decimal string (no floating point).
  function formatMoney(amount) {
    var text = String(amount).trim();
    var negative = /^[-\u2212]/.test(text);
    var parts = text.replace(/^[-+\u2212]/, "").split(".");
    var whole = parts[0].replace(/\B(?=(\d{3})+(?!\d))/g, ",");
    var cents = ((parts[1] || "") + "00").slice(0, 2);
    var zero = /^[0,]*$/.test(whole) && cents === "00";
    return (negative && !zero ? "\u2212" : "") + whole + "." + cents + (currency ? " " + currency : "");
  }

  // Arabic-Indic (U+0660..), Extended Arabic-Indic (U+06F0..) and full-width (U+FF10..) digits as
  // 0-9; the Arabic decimal separator (U+066B) and the full-width full stop (U+FF0E) as ".".
  function normaliseDigits(text) {
    return text.replace(/[\u0660-\u0669\u06F0-\u06F9\uFF10-\uFF19\u066B\uFF0E]/g, function (ch) {
      var code = ch.charCodeAt(0);
      if (code === 0x066B || code === 0xFF0E) return ".";
      var zero = code >= 0xFF10 ? 0xFF10 : code >= 0x06F0 ? 0x06F0 : 0x0660;
      return String(code - zero);
    });
  }

  // The one amount rule, the server's (wallet/money.py parse_amount): a plain decimal with at most
  // two places; no exponent, sign, underscore, separator, inner space or third place.
  // {text: "100.50", cents: 10050} or {error}.
  function parseAmount(raw) {
    var text = normaliseDigits(String(raw || "").trim());
    var match = /^([0-9]+)(?:\.([0-9]{1,2}))?$/.exec(text);
    if (!match) return { error: message("badAmount") };
    var whole = match[1].replace(/^0+(?=\d)/, "");
    if (whole.length > MAX_INTEGER_DIGITS) return { error: message("tooLarge"), tooLarge: true };
    var cents = ((match[2] || "") + "00").slice(0, 2);
    return { text: whole + "." + cents, cents: parseInt(whole, 10) * 100 + parseInt(cents, 10) };
  }

  function centsToText(cents) {
    return Math.floor(cents / 100) + "." + ("0" + (cents % 100)).slice(-2);
  }

  // The token Django put in the page's forms ({% csrf_token %}); the cookie is HttpOnly.
  function csrfToken(form) {
    var input = (form || document).querySelector("input[name=csrfmiddlewaretoken]") ||
      document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  // POST a JSON body; resolves to {status, body} (body {} when the answer is not JSON).
  function postJSON(url, data, form) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "X-CSRFToken": csrfToken(form),
      },
      body: JSON.stringify(data),
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (body) {
        return { status: response.status, body: body };
      });
    });
  }

  // Show a JSON answer's balance in the nav pill and anywhere else the page shows the balance. Every
  // answer that knows the balance says it the same way: `balance` ("12.50"), `balance_display`.
  function updateBalance(body) {
    if (!body || body.balance === undefined || body.balance === null) return;
    var display = body.balance_display || formatMoney(body.balance);
    document.querySelectorAll("[data-wallet-balance]").forEach(function (node) {
      node.setAttribute("data-wallet-balance", body.balance);
      node.textContent = display;
    });
    document.querySelectorAll("[data-topup-balance]").forEach(function (node) {
      node.textContent = display;
    });
  }

  // With auto-recharge on, money can arrive by itself: the nav re-reads the balance every 10 s while
  // the tab is visible, and at once when it becomes visible again.
  var poller = document.querySelector("[data-balance-poll]");
  if (poller && window.fetch) {
    var refreshBalance = function () {
      if (document.visibilityState !== "visible") return;
      fetch(poller.getAttribute("data-balance-poll"), { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (body) {
          if (body && body.balance !== poller.getAttribute("data-wallet-balance")) {
            updateBalance(body);
            // Say why the balance moved by itself: "Automatic top-up of 50.00 AED on Visa ..4444".
            var note = document.querySelector("[data-automatic-note]");
            if (note && body.automatic_topup) note.textContent = body.automatic_topup;
          }
        })
        .catch(function () { /* offline for a moment: the next tick tries again */ });
    };
    window.setInterval(refreshBalance, 10000);
    document.addEventListener("visibilitychange", refreshBalance);
  }

  // --- what can go wrong: one way for every page ----------------------------------------------

  function setAlert(box, kind) {
    ["alert-error", "alert-info", "alert-success", "alert-warning"].forEach(function (name) {
      box.classList.remove(name);
    });
    box.classList.add("alert", "alert-" + kind);
  }

  // A button at work: disabled, aria-busy, a spinner and `label` ("Processing…") instead of its
  // content; restored after. A button cooling down after a 429 stays disabled until it is over.
  var idleContent = new WeakMap();
  function setBusy(button, on, label) {
    if (!button) return;
    if (on) {
      if (!idleContent.has(button)) idleContent.set(button, Array.prototype.slice.call(button.childNodes));
      var spinner = document.createElement("span");
      spinner.className = "spinner";
      spinner.setAttribute("aria-hidden", "true");
      button.replaceChildren(spinner, document.createTextNode(" " + (label || "")));
    } else if (idleContent.has(button)) {
      button.replaceChildren.apply(button, idleContent.get(button));
      idleContent.delete(button);
    }
    button.disabled = on || button.hasAttribute("data-cooling-down");
    button.setAttribute("aria-busy", on ? "true" : "false");
  }

  // A JSON endpoint answered 401 (the session ended while the page was open): say so in `box` with a
  // link to log in again (coming back to this page), and show the nav as it is for a visitor.
  function loginUrl() {
    var base = (document.body && document.body.getAttribute("data-login-url")) || "/accounts/login/";
    return base + "?next=" + encodeURIComponent(window.location.pathname + window.location.search);
  }

  // Swap the logged-in nav (links, balance, account, log out) for the logged-out one the server
  // rendered into <template id="nav-logged-out">.
  function showLoggedOutNav() {
    var template = document.getElementById("nav-logged-out");
    var nav = document.querySelector(".site-header .nav");
    if (!template || !nav || nav.getAttribute("data-logged-out") === "true") return;
    nav.querySelectorAll(".nav-links, .nav-account").forEach(function (node) { node.remove(); });
    nav.appendChild(template.content.cloneNode(true));
    nav.setAttribute("data-logged-out", "true");
  }

  function sessionEnded(box) {
    showLoggedOutNav();
    if (!box) return;
    box.textContent = message("sessionEnded") + " ";
    var link = document.createElement("a");
    link.href = loginUrl();
    link.textContent = message("logInAgain");
    box.appendChild(link);
    box.appendChild(document.createTextNode("."));
  }

  // 42 -> "42 s", 582 -> "9 min 42 s", from the server's templates (netcop_hub/ratelimit.py wait_text).
  function waitText(seconds) {
    var minutes = Math.floor(seconds / 60);
    var rest = seconds % 60;
    return minutes ? message("waitMinutes", { minutes: minutes, seconds: rest }) :
      message("waitSeconds", { seconds: rest });
  }

  // A 429: count the server's retry_after down in `box`, `buttons` disabled until then. The message
  // is announced once; the ticking itself is not read out every second.
  function coolDown(seconds, box, buttons, onDone) {
    var left = Math.max(1, Math.ceil(Number(seconds) || 60));
    var until = Date.now() + left * 1000;
    buttons = buttons || [];
    buttons.forEach(function (button) {
      button.disabled = true;
      button.setAttribute("data-cooling-down", "");
    });
    function render() {
      setAlert(box, "error");
      box.textContent = message("tooMany", { wait: waitText(left) });
    }
    box.hidden = false;
    box.setAttribute("aria-live", "polite");
    render();
    var timer = window.setInterval(function () {
      box.setAttribute("aria-live", "off");
      left = Math.max(0, Math.ceil((until - Date.now()) / 1000));
      if (left > 0) {
        render();
        return;
      }
      window.clearInterval(timer);
      box.setAttribute("aria-live", "polite");
      setAlert(box, "info");
      box.textContent = message("tryAgainNow");
      buttons.forEach(function (button) {
        button.removeAttribute("data-cooling-down");
        if (button.getAttribute("aria-busy") !== "true") button.disabled = false;
      });
      if (onDone) onDone();
    }, 1000);
  }

  // The text for an error answer ({status, body}): the server's own message, else a generic one.
  function errorText(answer) {
    if (answer.status === 401) return message("sessionEnded");
    return (answer.body && answer.body.error) || message("generic");
  }

  // The answers every page handles alike: 401 (session ended) and 429 (count down). True when
  // `answer` was one of them and has been shown in `box`; the page handles anything else itself.
  function handledRefusal(answer, box, buttons, onDone) {
    if (answer.status === 401) {
      sessionEnded(box);
      return true;
    }
    if (answer.status === 429) {
      coolDown((answer.body || {}).retry_after, box, buttons, onDone);
      return true;
    }
    return false;
  }

  window.NetCop = {
    currency: currency,
    uuid: uuid,
    formatMoney: formatMoney,
    parseAmount: parseAmount,
    centsToText: centsToText,
    csrfToken: csrfToken,
    postJSON: postJSON,
    updateBalance: updateBalance,
    config: config,
    message: message,
    setAlert: setAlert,
    setBusy: setBusy,
    sessionEnded: sessionEnded,
    loginUrl: loginUrl,
    waitText: waitText,
    coolDown: coolDown,
    errorText: errorText,
    handledRefusal: handledRefusal,
  };
})();
