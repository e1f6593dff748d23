// What every page script shares: ids, money (strings and integer cents, never floats), the one
// amount rule, JSON POSTs with the page's CSRF token, and the nav balance. Exposed as window.NetCop.
(function () {
  "use strict";

  // The wallet's currency comes from the server (settings.WALLET_CURRENCY) via <body data-currency>.
  var currency = (document.body && document.body.getAttribute("data-currency")) || "";

  // The server's messages for the one amount rule (wallet/money.py AMOUNT_MESSAGE, TOO_LARGE_MESSAGE).
  var BAD_AMOUNT = "Enter an amount like 100 or 100.50.";
  var TOO_LARGE = "That amount is too large.";
  var MAX_INTEGER_DIGITS = 10; // wallet/money.py MAX_AMOUNT 9999999999.99

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

  // "1234.5" -> "1,234.50 AED", from the decimal string (no floating point).
  function formatMoney(amount) {
    var parts = String(amount).split(".");
    var whole = parts[0].replace(/\B(?=(\d{3})+(?!\d))/g, ",");
    var cents = ((parts[1] || "") + "00").slice(0, 2);
    return whole + "." + cents + (currency ? " " + currency : "");
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
    if (!match) return { error: BAD_AMOUNT };
    var whole = match[1].replace(/^0+(?=\d)/, "");
    if (whole.length > MAX_INTEGER_DIGITS) return { error: TOO_LARGE, tooLarge: true };
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

  // Show a JSON answer's new_balance in the nav pill and anywhere else the page shows the balance.
  function updateBalance(body) {
    if (!body || body.new_balance === undefined || body.new_balance === null) return;
    var display = body.new_balance_display || formatMoney(body.new_balance);
    document.querySelectorAll("[data-wallet-balance]").forEach(function (node) {
      node.setAttribute("data-wallet-balance", body.new_balance);
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
            updateBalance({ new_balance: body.balance, new_balance_display: body.display });
          }
        })
        .catch(function () { /* offline for a moment: the next tick tries again */ });
    };
    window.setInterval(refreshBalance, 10000);
    document.addEventListener("visibilitychange", refreshBalance);
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
  };
})();
