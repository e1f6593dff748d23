// Wallet page: top up by card with Stripe Elements, confirmed on the server.
//
// Flow (Stripe's webhook-free pattern): stripe.createPaymentMethod -> POST create-payment-intent;
// on "requires_action" stripe.handleNextAction (3-D Secure) -> POST confirm-payment.
// Only documented Stripe.js calls are used, so this file runs unchanged against js.stripe.com.
(function () {
  "use strict";

  var form = document.getElementById("topup-form");
  var configNode = document.getElementById("topup-config");
  if (!form || !configNode) return;

  var config = JSON.parse(configNode.textContent);
  var amountInput = document.getElementById("topup-amount");
  var amountField = document.getElementById("topup-amount-field");
  var amountError = document.getElementById("topup-amount-error");
  var cardErrors = document.getElementById("card-errors");
  var submit = document.getElementById("topup-submit");
  var spinner = submit.querySelector(".spinner");
  var submitLabel = submit.querySelector(".topup-submit-label");
  var statusBox = document.getElementById("topup-status");
  var presets = Array.prototype.slice.call(form.querySelectorAll("[data-amount]"));
  var csrfInput = form.querySelector("input[name=csrfmiddlewaretoken]");

  var GENERIC_ERROR = "Something went wrong. Please try again.";
  var NETWORK_ERROR = "We couldn't reach the server. Check your connection and try again.";

  var busy = false;
  // One idempotency key per attempt: reused when the same attempt is retried (double click, a
  // lost response), replaced once the server has given a final answer or the amount changes.
  var attempt = null;

  // --- helpers ---------------------------------------------------------------------------------

  function newKey() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") {
      return window.crypto.randomUUID();
    }
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    bytes[6] = (bytes[6] & 0x0f) | 0x40; // version 4
    bytes[8] = (bytes[8] & 0x3f) | 0x80; // variant 10
    var hex = Array.prototype.map.call(bytes, function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
    return hex.slice(0, 8) + "-" + hex.slice(8, 12) + "-" + hex.slice(12, 16) + "-" +
      hex.slice(16, 20) + "-" + hex.slice(20);
  }

  // Amounts are handled as strings and integer cents: never floats.
  function toCents(text) {
    var match = /^(\d{1,10})(?:\.(\d{1,2}))?$/.exec(text);
    if (!match) return null;
    return parseInt(match[1], 10) * 100 + parseInt(((match[2] || "") + "00").slice(0, 2), 10);
  }

  function formatCents(cents) {
    var whole = Math.floor(cents / 100).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
    return whole + "." + ("0" + (cents % 100)).slice(-2) + " " + config.currency;
  }

  function checkAmount(raw) {
    var text = (raw || "").trim().replace(/,/g, "");
    var min = toCents(config.minAmount);
    var max = toCents(config.maxAmount);
    var range = "Enter an amount between " + formatCents(min) + " and " + formatCents(max) + ".";
    if (!text) return { error: "Enter an amount to add. " + range };
    if (!/^\d+(\.\d+)?$/.test(text)) return { error: "Enter the amount as a number, e.g. 100.00." };
    if (/\.\d{3,}$/.test(text)) return { error: "Amounts can have at most two decimal places." };
    var cents = toCents(text);
    if (cents === null || cents < min || cents > max) return { error: range };
    return { text: Math.floor(cents / 100) + "." + ("0" + (cents % 100)).slice(-2) };
  }

  function setAmountError(message) {
    amountError.textContent = message || "";
    amountField.classList.toggle("field-invalid", Boolean(message));
    if (message) {
      amountInput.setAttribute("aria-invalid", "true");
    } else {
      amountInput.removeAttribute("aria-invalid");
    }
  }

  function showStatus(kind, message) {
    statusBox.className = "topup-status alert alert-" + kind;
    statusBox.textContent = message;
  }

  function clearStatus() {
    statusBox.className = "topup-status";
    statusBox.textContent = "";
  }

  function setBusy(on) {
    busy = on;
    submit.disabled = on;
    submit.setAttribute("aria-busy", on ? "true" : "false");
    spinner.hidden = !on;
    submitLabel.textContent = on ? "Processing\u2026" : "Add to wallet";
  }

  function syncPresets() {
    var value = amountInput.value.trim();
    presets.forEach(function (button) {
      var same = toCents(button.getAttribute("data-amount")) === toCents(value);
      button.setAttribute("aria-pressed", same ? "true" : "false");
    });
  }

  function updateBalances(body) {
    if (!body.new_balance) return;
    var display = body.new_balance_display || body.new_balance + " " + config.currency;
    document.querySelectorAll("[data-wallet-balance]").forEach(function (node) {
      node.setAttribute("data-wallet-balance", body.new_balance);
      node.textContent = display;
    });
    document.querySelectorAll("[data-topup-balance]").forEach(function (node) {
      node.textContent = display;
    });
  }

  function postJSON(url, data) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "X-CSRFToken": csrfInput ? csrfInput.value : "",
      },
      body: JSON.stringify(data),
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (body) {
        return { status: response.status, body: body };
      });
    });
  }

  function errorFor(answer) {
    if (answer.status === 401) return "Your session has ended. Please log in again.";
    if (answer.status === 403) return "Your session has expired. Reload the page and try again.";
    return (answer.body && answer.body.error) || GENERIC_ERROR;
  }

  // --- Stripe ----------------------------------------------------------------------------------

  if (typeof window.Stripe !== "function" || !config.publishableKey) {
    showStatus("error", "Card payments are unavailable right now. Please try again later.");
    return;
  }
  var stripe = window.Stripe(config.publishableKey);
  var elements = stripe.elements();
  var card = elements.create("card");
  card.mount("#card-element");
  card.on("change", function (event) {
    // Stripe passes {error, complete, ...}; the sandbox's fake element passes nothing.
    cardErrors.textContent = event && event.error ? event.error.message : "";
  });
  submit.disabled = false;

  // --- outcomes --------------------------------------------------------------------------------

  function finish() {
    setBusy(false);
  }

  // After a final outcome, show it in "Recent top-ups" too: re-read that section of this page.
  function refreshRecent() {
    var section = document.querySelector(".topup-recent");
    if (!section || !window.fetch || !window.DOMParser) return;
    fetch(window.location.pathname, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (!html) return;
        var fresh = new DOMParser().parseFromString(html, "text/html").querySelector(".topup-recent");
        if (fresh) section.replaceWith(fresh);
      })
      .catch(function () { /* the list is a convenience; the status message already says it all */ });
  }

  function succeeded(body) {
    attempt = null;
    refreshRecent();
    updateBalances(body);
    showStatus("success", body.message || "Your wallet was topped up.");
    if (typeof card.clear === "function") card.clear();
  }

  function failed(message) {
    attempt = null;
    refreshRecent();
    showStatus("error", message);
  }

  function confirmAfterAction(paymentIntentId, actionError) {
    return postJSON(config.confirmUrl, { payment_intent_id: paymentIntentId }).then(function (answer) {
      if (answer.status === 200 && answer.body.success) {
        succeeded(answer.body);
      } else if (answer.body && answer.body.status === "requires_action" && actionError) {
        failed(actionError.message || errorFor(answer));
      } else {
        failed(errorFor(answer));
      }
    });
  }

  function handleCreateAnswer(answer) {
    var body = answer.body || {};
    if (answer.status === 200 && body.status === "succeeded") {
      succeeded(body);
      return null;
    }
    if (answer.status === 200 && body.status === "requires_action") {
      showStatus("info", "Your bank asks you to confirm this payment\u2026");
      return stripe.handleNextAction({ clientSecret: body.client_secret }).then(function (result) {
        // Whatever Stripe.js says, the server decides from the intent itself.
        return confirmAfterAction(body.payment_intent_id, result && result.error);
      });
    }
    if (answer.status === 202) {
      attempt = null;
      showStatus("info", body.message || "Your payment is being processed.");
      return null;
    }
    if (answer.status === 503) {
      // Stripe was unreachable: the payment may or may not have been created. Keep this attempt's
      // key, so "try again" replays it (the server then reports it) instead of charging twice.
      showStatus("error", errorFor(answer));
      return null;
    }
    if (answer.status === 400 && /amount/i.test(body.error || "")) setAmountError(body.error);
    failed(errorFor(answer));
    return null;
  }

  // --- events ----------------------------------------------------------------------------------

  presets.forEach(function (button) {
    button.addEventListener("click", function () {
      amountInput.value = button.getAttribute("data-amount");
      setAmountError("");
      syncPresets();
    });
  });
  amountInput.addEventListener("input", function () {
    setAmountError("");
    syncPresets();
  });
  syncPresets();

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (busy) return;
    clearStatus();
    var amount = checkAmount(amountInput.value);
    if (amount.error) {
      setAmountError(amount.error);
      amountInput.focus();
      return;
    }
    setAmountError("");
    if (!attempt || attempt.amount !== amount.text) {
      attempt = { key: newKey(), amount: amount.text };
    }
    var current = attempt;
    setBusy(true);
    stripe.createPaymentMethod({ type: "card", card: card })
      .then(function (result) {
        if (result.error) {
          cardErrors.textContent = result.error.message || "Check your card details.";
          return null;
        }
        cardErrors.textContent = "";
        return postJSON(config.createUrl, {
          amount: current.amount,
          payment_method_id: result.paymentMethod.id,
          idempotency_key: current.key,
        }).then(handleCreateAnswer);
      })
      .catch(function () {
        // No answer from our server (or Stripe.js failed): keep the key so a retry of this same
        // attempt can never charge twice.
        showStatus("error", NETWORK_ERROR);
      })
      .then(finish);
  });
})();
