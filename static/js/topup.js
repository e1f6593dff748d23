// Wallet page: top up by card with Stripe Elements, confirmed on the server.
//
// Flow (Stripe's webhook-free pattern): stripe.createPaymentMethod -> POST create-payment-intent;
// on "requires_action" stripe.handleNextAction (3-D Secure) -> POST confirm-payment.
// Needs common.js (window.NetCop) first: it owns the messages, busy buttons, 401 and 429 handling.
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
  var saveCard = document.getElementById("topup-save-card");
  var submit = document.getElementById("topup-submit");
  var statusBox = document.getElementById("topup-status");
  var presets = Array.prototype.slice.call(form.querySelectorAll("[data-amount]"));
  var fields = document.getElementById("topup-fields");
  var done = document.getElementById("topup-done");
  var again = document.getElementById("topup-again");

  var busy = false;
  // Seconds left before the server accepts another attempt (after a 429); the button stays disabled.
  var coolingDown = false;
  // One idempotency key per attempt: reused when the same attempt is retried (double click, a
  // lost response), replaced once the server has given a final answer or the amount changes.
  var attempt = null;

  // --- helpers ---------------------------------------------------------------------------------

  var formatCents = function (cents) { return NetCop.formatMoney(NetCop.centsToText(cents)); };

  // The one amount rule (NetCop.parseAmount, the server's too), then the range. Each refusal is one
  // sentence, the server's own (the page config): the format ("like 100 or 100.50"), or the range
  // (nothing typed, or out of range, however far).
  function checkAmount(raw) {
    var min = NetCop.parseAmount(config.minAmount).cents;
    var max = NetCop.parseAmount(config.maxAmount).cents;
    var range = { error: config.rangeMessage };
    if (!(raw || "").trim()) return range;
    var amount = NetCop.parseAmount(raw);
    if (amount.error) return amount.tooLarge ? range : amount;
    if (amount.cents < min || amount.cents > max) return range;
    return amount;
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
    statusBox.setAttribute("aria-live", "polite");
    statusBox.className = "topup-status alert alert-" + kind;
    statusBox.textContent = message;
  }

  // An error answer in `box` (shown by `show`); logged out meanwhile (401): a link to log in again
  // (back to this page) and the logged-out nav.
  function showAnswerError(show, box, answer) {
    show("error", NetCop.errorText(answer));
    if (answer.status === 401) NetCop.sessionEnded(box);
  }

  function clearStatus() {
    statusBox.setAttribute("aria-live", "polite");
    statusBox.className = "topup-status";
    statusBox.textContent = "";
  }

  function setBusy(on) {
    busy = on;
    NetCop.setBusy(submit, on, "Processing\u2026");
  }

  function syncPresets() {
    var value = NetCop.parseAmount(amountInput.value).text;
    presets.forEach(function (button) {
      var same = NetCop.parseAmount(button.getAttribute("data-amount")).text === value;
      button.setAttribute("aria-pressed", same ? "true" : "false");
    });
  }

  function postJSON(url, data) {
    return NetCop.postJSON(url, data, form);
  }


  // --- Stripe ----------------------------------------------------------------------------------

  if (typeof window.Stripe !== "function" || !config.publishableKey) {
    showStatus("error", "Card payments are unavailable right now. Please try again later.");
    return;
  }
  var stripe = window.Stripe(config.publishableKey);
  var elements = stripe.elements();
  var card = null;

  function mountCard() {
    if (card) card.destroy(); // a fresh, empty element (the sandbox's fake one has no clear())
    card = elements.create("card");
    card.mount("#card-element");
    card.on("change", function (event) {
      // Stripe passes {error, complete, ...}; the sandbox's fake element passes nothing.
      cardErrors.textContent = event && event.error ? event.error.message : "";
    });
  }

  function focusCard() {
    if (typeof card.focus === "function") {
      card.focus();
      return;
    }
    // The sandbox's fake element has no focus(): the input its error is about, else the first.
    var input = document.querySelector("#card-element [aria-invalid=true]") ||
      document.querySelector("#card-element input");
    if (input) input.focus();
  }

  mountCard();
  submit.disabled = false;

  // --- outcomes --------------------------------------------------------------------------------

  function finish() {
    setBusy(false);
  }

  // After a final outcome, show it in "Recent top-ups" too: re-read that list from this page.
  function refreshRecent() {
    var list = document.querySelector(".topup-recent-body");
    if (!list || !window.fetch || !window.DOMParser) return;
    fetch(window.location.pathname, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (!html) return;
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.querySelector(".topup-recent-body");
        if (fresh) list.replaceWith(fresh);
      })
      .catch(function () { /* the list is a convenience; the status message already says it all */ });
  }

  // The form steps aside after a success, so a second click cannot pay again by accident: the
  // message stays, with "Back to <agent>" (when the page came from one) and "Add another top-up".
  function showDone() {
    fields.hidden = true;
    done.hidden = false;
    amountInput.value = "";
    syncPresets();
    mountCard();
    var back = document.getElementById("topup-back");
    (back || again).focus();
  }

  // Came from an agent and the new balance still does not cover a run: say so with the success.
  function stillShort(body) {
    var back = document.getElementById("topup-back");
    if (!back || body.balance === undefined) return "";
    var price = NetCop.parseAmount(back.getAttribute("data-agent-price")).cents;
    var balance = NetCop.parseAmount(body.balance).cents;
    if (!(price > balance)) return "";
    return " You need " + formatCents(price - balance) + " more to run " +
      back.getAttribute("data-agent-name") + ".";
  }

  function succeeded(body) {
    attempt = null;
    refreshRecent();
    NetCop.updateBalance(body);
    showStatus("success", (body.message || "Your wallet was topped up.") + stillShort(body));
    showDone();
  }

  again.addEventListener("click", function () {
    clearStatus();
    done.hidden = true;
    fields.hidden = false;
    amountInput.focus();
  });

  function failed(message) {
    attempt = null;
    refreshRecent();
    showStatus("error", message);
  }

  // Both endpoints answer a top-up's state in one shape ({status, message, ...}), so one function
  // reads the answer to create-payment-intent and to confirm-payment alike.
  function handleAnswer(answer, actionError) {
    var body = answer.body || {};
    if (answer.status === 200 && body.status === "succeeded") {
      succeeded(body);
      return null;
    }
    if (answer.status === 200 && body.status === "requires_action" && body.client_secret) {
      showStatus("info", "Your bank asks you to confirm this payment\u2026");
      return stripe.handleNextAction({ clientSecret: body.client_secret }).then(function (result) {
        // Whatever Stripe.js says, the server decides from the intent itself.
        return postJSON(config.confirmUrl, { payment_intent_id: body.payment_intent_id })
          .then(function (next) { return handleAnswer(next, result && result.error); });
      });
    }
    if (answer.status === 429) {
      // Refused before anything happened: the same attempt (and key) may be retried later.
      coolingDown = true;
      NetCop.coolDown(body.retry_after, statusBox, [submit], function () { coolingDown = false; });
      return null;
    }
    if (body.status === "processing") {
      attempt = null;
      showStatus("info", body.message || "Your payment is being processed.");
      return null;
    }
    if (answer.status === 503) {
      // Stripe was unreachable: the payment may or may not have been created. Keep this attempt's
      // key, so "try again" replays it (the server then reports it) instead of charging twice.
      showStatus("error", NetCop.errorText(answer));
      return null;
    }
    if (body.status === "requires_action" && actionError && actionError.message) {
      failed(actionError.message);
      return null;
    }
    if (answer.status === 400 && /amount/i.test(body.error || "")) setAmountError(body.error);
    attempt = null;
    refreshRecent();
    showAnswerError(showStatus, statusBox, answer);
    return null;
  }

  // --- a top-up left at 3-D Secure: "Finish authentication" and "Cancel" in Recent top-ups ---------

  // Finish: the server checks the top-up is this user's, reads it from Stripe (it may have gone
  // through in another tab) and hands back the client secret only while Stripe still waits; then
  // the same path as in the form: Stripe.js's next action, and confirm-payment settles it.
  // Cancel: the server cancels the PaymentIntent and records the outcome.
  function rowAction(button) {
    var row = button.closest("[data-topup-id]");
    var box = document.getElementById("recent-status");
    var buttons = Array.prototype.slice.call(row.querySelectorAll("[data-topup-action]"));
    var resume = button.getAttribute("data-topup-action") === "resume";
    buttons.forEach(function (b) { b.disabled = true; });
    button.setAttribute("aria-busy", "true");
    showIn(box, "info", resume ? "Your bank asks you to confirm this payment\u2026" : "Canceling\u2026");
    postJSON(button.getAttribute("data-url"), {})
      .then(function (answer) {
        var body = answer.body || {};
        if (resume && answer.status === 200 && body.status === "requires_action" && body.client_secret) {
          return stripe.handleNextAction({ clientSecret: body.client_secret }).then(function () {
            return postJSON(config.confirmUrl, { payment_intent_id: body.payment_intent_id });
          });
        }
        return answer;
      })
      .then(function (answer) {
        var body = answer.body || {};
        button.removeAttribute("aria-busy");
        if (answer.status === 429) {
          NetCop.coolDown(body.retry_after, box, buttons);
          return;
        }
        if (answer.status === 200 && body.status === "succeeded") {
          NetCop.updateBalance(body);
          showIn(box, "success", body.message);
          var back = document.getElementById("topup-back");
          if (back) {
            // Came from an agent: the way back right here too.
            var link = back.cloneNode(true);
            link.removeAttribute("id");
            box.appendChild(document.createTextNode(" "));
            box.appendChild(link);
          }
        } else if (answer.status === 200 && body.status === "canceled") {
          showIn(box, "info", body.message);
        } else {
          showAnswerError(function (kind, text) { showIn(box, kind, text); }, box, answer);
        }
        refreshRecent();
      })
      .catch(function () {
        button.removeAttribute("aria-busy");
        buttons.forEach(function (b) { b.disabled = false; });
        showIn(box, "error", NetCop.message("network"));
      });
  }

  function showIn(box, kind, message) {
    box.setAttribute("aria-live", "polite");
    box.textContent = message;
    box.hidden = false;
    NetCop.setAlert(box, kind);
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-topup-action]");
    if (button && !button.disabled) rowAction(button);
  });

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
    if (busy || coolingDown) return;
    clearStatus();
    var amount = checkAmount(amountInput.value);
    if (amount.error) {
      setAmountError(amount.error);
      amountInput.focus();
      return;
    }
    setAmountError("");
    if (!attempt || attempt.amount !== amount.text) {
      attempt = { key: NetCop.uuid(), amount: amount.text };
    }
    var current = attempt;
    setBusy(true);
    stripe.createPaymentMethod({ type: "card", card: card })
      .then(function (result) {
        if (result.error) {
          cardErrors.textContent = result.error.message || "Check your card details.";
          focusCard();
          return null;
        }
        cardErrors.textContent = "";
        return postJSON(config.createUrl, {
          amount: current.amount,
          payment_method_id: result.paymentMethod.id,
          idempotency_key: current.key,
          save_card: !!(saveCard && saveCard.checked),
        }).then(handleAnswer);
      })
      .catch(function () {
        // No answer from our server (or Stripe.js failed): keep the key so a retry of this same
        // attempt can never charge twice.
        showStatus("error", NetCop.message("network"));
      })
      .then(finish);
  });
})();
