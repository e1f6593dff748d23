// SANDBOX ONLY. Loaded after localstripe's fake Stripe.js (never with real keys, never in production).
//
// localstripe's Stripe.js lacks two documented calls the wallet page uses, and its card element is
// five bare inputs that only accept a 16-digit number without spaces. This wraps window.Stripe so the
// page's own code runs unchanged here and against js.stripe.com:
//   elements().create("card") -> the fake element, with labelled inputs, the number grouped as it is
//     typed (spaces and dashes accepted, like Stripe's Element), and change events carrying
//     {empty, complete, error} like Stripe's.
//   createPaymentMethod({type: "card", card}) -> checks the card like Stripe's Element (with Stripe's
//     wording), then createToken with the cleaned values; the token's card id is accepted by
//     localstripe as a PaymentIntent payment_method. Resolves {paymentMethod} or {error}.
//   handleNextAction({clientSecret}) -> via confirmCardPayment(clientSecret), which shows localstripe's
//     3-D Secure box. Resolves {paymentIntent} or {error}, like Stripe.js (an authentication the
//     cardholder failed is an error carrying the intent).
// localstripe answers a malformed request with a bare "Bad request"; that text never reaches the page.
(function () {
  "use strict";

  var FakeStripe = window.Stripe;
  if (typeof FakeStripe !== "function") return;

  var MESSAGES = {
    incomplete_number: "Your card number is incomplete.",
    invalid_number: "Your card number is invalid.",
    incomplete_expiry: "Your card's expiration date is incomplete.",
    invalid_expiry_month: "Your card's expiration month is invalid.",
    invalid_expiry_year: "Your card's expiration year is invalid.",
    invalid_expiry_year_past: "Your card's expiration date is in the past.",
    incomplete_cvc: "Your card's security code is incomplete.",
    invalid_cvc: "Your card's security code is invalid.",
  };
  var UNCHECKED = "Your card details could not be checked. Check them and try again.";

  // How the fake element's inputs (keyed by its own placeholders) are presented.
  var FIELDS = {
    number: { label: "Card number", placeholder: "1234 1234 1234 1234", autocomplete: "cc-number", maxLength: 23 },
    exp_month: { label: "Expiry month", placeholder: "MM", autocomplete: "cc-exp-month", maxLength: 2 },
    exp_year: { label: "Expiry year", placeholder: "YY", autocomplete: "cc-exp-year", maxLength: 2 },
    cvc: { label: "Security code (CVC)", placeholder: "CVC", autocomplete: "cc-csc", maxLength: 3 },
    postal_code: { label: "Postcode", placeholder: "Postcode", autocomplete: "postal-code", maxLength: 10 },
  };

  function cardError(code) {
    return { type: "validation_error", code: code, message: MESSAGES[code] };
  }

  function asError(err, fallback) {
    // localstripe's own errors are terse ("Bad request") and describe its checks, not the card's.
    if (err && typeof err === "object" && err.message && !/^bad request$/i.test(String(err.message).trim())) {
      return { type: err.type || "api_error", code: err.code, message: String(err.message) };
    }
    return { type: "api_error", message: fallback };
  }

  function digitsOf(value) {
    return String(value || "").replace(/[\s-]/g, "");
  }

  function luhnValid(digits) {
    var sum = 0;
    for (var i = 0; i < digits.length; i++) {
      var d = digits.charCodeAt(digits.length - 1 - i) - 48;
      if (i % 2 === 1) { d *= 2; if (d > 9) d -= 9; }
      sum += d;
    }
    return sum % 10 === 0;
  }

  // Returns {card: cleaned values} or {error, incomplete}; `partial` skips "incomplete" errors
  // (while typing, Stripe's Element only flags what is already wrong).
  function checkCard(raw, partial) {
    raw = raw || {};
    var number = digitsOf(raw.number);
    var month = String(raw.exp_month || "").trim();
    var year = String(raw.exp_year || "").trim().replace(/^20(?=\d{2}$)/, "");
    var cvc = String(raw.cvc || "").trim();
    var incomplete = null;

    if (/\D/.test(number)) return { error: cardError("invalid_number") };
    if (number.length > 16 || (number.length === 16 && !luhnValid(number))) {
      return { error: cardError("invalid_number") };
    }
    if (number.length < 16) incomplete = incomplete || "incomplete_number";

    if (/\D/.test(month) || (month.length === 2 && (+month < 1 || +month > 12)) || month === "00") {
      return { error: cardError("invalid_expiry_month") };
    }
    if (/\D/.test(year)) return { error: cardError("invalid_expiry_year") };
    if (!month || year.length < 2) {
      incomplete = incomplete || "incomplete_expiry";
    } else {
      var now = new Date();
      var fullYear = 2000 + +year;
      var thisYear = now.getFullYear();
      if (fullYear < thisYear || (fullYear === thisYear && +month < now.getMonth() + 1)) {
        return { error: cardError("invalid_expiry_year_past") };
      }
      if (fullYear > thisYear + 50) return { error: cardError("invalid_expiry_year") };
    }

    if (/\D/.test(cvc)) return { error: cardError("invalid_cvc") };
    if (cvc.length < 3) incomplete = incomplete || "incomplete_cvc";

    if (incomplete) return partial ? { incomplete: true } : { error: cardError(incomplete) };
    return {
      card: {
        number: number,
        exp_month: String(+month),
        exp_year: String(2000 + +year),
        cvc: cvc,
      },
    };
  }

  var FIELD_OF_CODE = {
    incomplete_number: "number", invalid_number: "number",
    incomplete_expiry: "exp_month", invalid_expiry_month: "exp_month",
    invalid_expiry_year: "exp_year", invalid_expiry_year_past: "exp_year",
    incomplete_cvc: "cvc", invalid_cvc: "cvc",
  };

  // Marks the input an error is about (aria-invalid), as Stripe's Element turns it red.
  function markInvalid(element, error) {
    var inputs = element && element._inputs;
    if (!inputs) return;
    var field = error && FIELD_OF_CODE[error.code];
    Object.keys(inputs).forEach(function (key) {
      if (!inputs[key]) return;
      if (key === field) inputs[key].setAttribute("aria-invalid", "true");
      else inputs[key].removeAttribute("aria-invalid");
    });
  }

  function groupDigits(digits) {
    return digits.replace(/(\d{4})(?=\d)/g, "$1 ");
  }

  // Keeps the number grouped in fours as it is typed, with the caret after the same digit.
  function formatNumberInput(input) {
    var value = input.value;
    var caret = input.selectionStart == null ? value.length : input.selectionStart;
    var digitsBeforeCaret = value.slice(0, caret).replace(/\D/g, "").length;
    // Anything other than digits, spaces and dashes stays, so it can be reported as invalid.
    if (/[^\d\s-]/.test(value)) return;
    var formatted = groupDigits(value.replace(/\D/g, "").slice(0, 19));
    if (formatted === value) return;
    input.value = formatted;
    var pos = 0;
    for (var seen = 0; pos < formatted.length && seen < digitsBeforeCaret; pos++) {
      if (/\d/.test(formatted[pos])) seen++;
    }
    if (document.activeElement === input) input.setSelectionRange(pos, pos);
  }

  function enhance(element) {
    var inputs = element._inputs;
    if (!inputs || !inputs.number) return;
    var label = inputs.number.previousElementSibling;
    if (label && label.tagName === "SPAN") label.hidden = true;  // the fake's "localstripe:" prefix

    Object.keys(FIELDS).forEach(function (key) {
      var input = inputs[key];
      if (!input) return;
      var field = FIELDS[key];
      input.setAttribute("aria-label", field.label);
      input.setAttribute("placeholder", field.placeholder);
      input.setAttribute("autocomplete", field.autocomplete);
      input.setAttribute("inputmode", "numeric");
      input.setAttribute("spellcheck", "false");
      input.setAttribute("data-card-field", key);
      input.maxLength = field.maxLength;
    });

    // The fake moves focus to the month once the number has 16 characters, spaces included;
    // decide that on the digits instead.
    var fakeOnInput = inputs.number.oninput;
    inputs.number.oninput = function (event) {
      formatNumberInput(inputs.number);
      fakeOnInput.call(this, { target: null, type: event.type });
      var digits = digitsOf(inputs.number.value);
      if (event.inputType !== "deleteContentBackward" && digits.length === 16 && luhnValid(digits) &&
          inputs.number.selectionStart === inputs.number.value.length) {
        inputs.exp_month.focus();
      }
    };
  }

  function wrapElement(element) {
    var mount = element.mount;
    element.mount = function () {
      var result = mount.apply(element, arguments);
      enhance(element);
      return result;
    };
    var on = element.on;
    element.on = function (eventName, handler) {
      if (eventName !== "change") return on.call(element, eventName, handler);
      // Stripe's change event: {elementType, empty, complete, error}; the fake passes nothing.
      return on.call(element, eventName, function () {
        var raw = (element.value && element.value.card) || {};
        var empty = !Object.keys(raw).some(function (k) { return raw[k] && raw[k] !== "20"; });
        var checked = checkCard(raw, true);
        markInvalid(element, checked.error);
        handler({ elementType: "card", empty: empty, complete: !!checked.card, error: checked.error });
      });
    };
    return element;
  }

  window.Stripe = function (publishableKey, options) {
    var stripe = FakeStripe(publishableKey, options);

    var fakeElements = stripe.elements;
    stripe.elements = function () {
      var elements = fakeElements.apply(stripe, arguments);
      var create = elements.create;
      elements.create = function () {
        return wrapElement(create.apply(elements, arguments));
      };
      return elements;
    };

    stripe.createPaymentMethod = function (params) {
      var card = params && params.card;
      if (!params || params.type !== "card" || !card) {
        return Promise.resolve({ error: { type: "validation_error", message: "Enter your card details." } });
      }
      var checked = checkCard(card.value && card.value.card, false);
      markInvalid(card, checked.error);
      if (checked.error) return Promise.resolve({ error: checked.error });
      // createToken reads only element.value.card: hand it the cleaned values.
      return stripe.createToken({ value: { card: checked.card } }).then(function (result) {
        if (!result || result.error || !result.token || !result.token.card) {
          return { error: asError(result && result.error, UNCHECKED) };
        }
        var tokenCard = result.token.card;
        return {
          paymentMethod: {
            id: tokenCard.id,
            object: "payment_method",
            type: "card",
            card: { brand: tokenCard.brand, last4: tokenCard.last4 },
          },
        };
      }, function (err) {
        return { error: asError(err, UNCHECKED) };
      });
    };

    stripe.handleNextAction = function (params) {
      var clientSecret = params && params.clientSecret;
      if (!clientSecret) {
        return Promise.resolve({ error: { type: "validation_error", message: "Missing client secret." } });
      }
      return stripe.confirmCardPayment(clientSecret).then(function (result) {
        if (!result || result.error) {
          return { error: asError(result && result.error, "Card authentication failed.") };
        }
        var intent = result.paymentIntent;
        if (intent && intent.status === "requires_payment_method") {
          return {
            error: {
              type: "card_error",
              code: "payment_intent_authentication_failure",
              message: "We are unable to authenticate your payment method. Please choose a different payment method and try again.",
              payment_intent: intent,
            },
          };
        }
        return { paymentIntent: intent };
      }, function (err) {
        return { error: asError(err, "Card authentication failed.") };
      });
    };

    return stripe;
  };
})();
