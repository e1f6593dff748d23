// SANDBOX ONLY. Loaded after localstripe's fake Stripe.js (never with real keys, never in production).
//
// localstripe's Stripe.js lacks two documented calls the wallet page uses; this wraps window.Stripe so
// the page's own code runs unchanged here and against js.stripe.com:
//   createPaymentMethod({type: "card", card}) -> via createToken(card); the token's card id is
//     accepted by localstripe as a PaymentIntent payment_method. Resolves {paymentMethod} or {error}.
//   handleNextAction({clientSecret}) -> via confirmCardPayment(clientSecret), which shows localstripe's
//     3-D Secure box. Resolves {paymentIntent} or {error}, like Stripe.js (an authentication the
//     cardholder failed is an error carrying the intent).
(function () {
  "use strict";

  var FakeStripe = window.Stripe;
  if (typeof FakeStripe !== "function") return;

  function asError(err, fallback) {
    if (err && typeof err === "object" && err.message) {
      return { type: err.type || "api_error", code: err.code, message: String(err.message) };
    }
    return { type: "api_error", message: fallback };
  }

  window.Stripe = function (publishableKey, options) {
    var stripe = FakeStripe(publishableKey, options);

    stripe.createPaymentMethod = function (params) {
      var card = params && params.card;
      if (!params || params.type !== "card" || !card) {
        return Promise.resolve({ error: { type: "validation_error", message: "Enter your card details." } });
      }
      // The fake element only has a value once something was typed into it.
      var value = card.value && card.value.card;
      if (!value || !value.number) {
        return Promise.resolve({
          error: { type: "validation_error", code: "incomplete_number", message: "Your card number is incomplete." },
        });
      }
      return stripe.createToken(card).then(function (result) {
        if (!result || result.error || !result.token || !result.token.card) {
          return { error: asError(result && result.error, "Your card details could not be checked.") };
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
        return { error: asError(err, "Your card details could not be checked.") };
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
