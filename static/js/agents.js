/* Agent page: submit runs as JSON, show the report and update the nav balance in place.
   Without JavaScript the form posts normally and the server redirects back with the result. */
(function () {
  "use strict";

  var form = document.querySelector("[data-agent-form]");
  if (!form || !window.fetch) { return; }
  var submit = form.querySelector("[data-agent-submit]");
  if (!submit) { return; } // balance too low: the page shows a top-up link instead

  var textarea = form.querySelector("textarea[name=input]");
  var requestIdInput = form.querySelector("input[name=request_id]");
  var csrf = form.querySelector("input[name=csrfmiddlewaretoken]").value;
  var errorBox = form.querySelector("[data-agent-error]");
  var statusBox = form.querySelector("[data-agent-status]");
  var runList = document.querySelector("[data-run-list]");
  var submitLabel = submit.textContent;
  var busy = false;

  function newRequestId() {
    if (window.crypto && crypto.randomUUID) { return crypto.randomUUID(); }
    var b = new Uint8Array(16);
    crypto.getRandomValues(b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return (x + 0x100).toString(16).slice(1); }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }

  function formatMoney(amount) {
    // "1234.5" -> "1,234.50 AED" without going through floating point.
    var parts = String(amount).split(".");
    var whole = parts[0].replace(/\B(?=(\d{3})+(?!\d))/g, ",");
    var cents = ((parts[1] || "") + "00").slice(0, 2);
    return whole + "." + cents + " AED";
  }

  function updateBalance(data) {
    if (!data || data.new_balance === undefined) { return; }
    var text = data.new_balance_display || formatMoney(data.new_balance);
    document.querySelectorAll("[data-wallet-balance]").forEach(function (el) {
      el.setAttribute("data-wallet-balance", data.new_balance);
      el.textContent = text;
    });
  }

  function showError(message, link) {
    errorBox.textContent = "";
    var p = document.createElement("p");
    p.textContent = message;
    if (link) {
      p.appendChild(document.createTextNode(" "));
      var a = document.createElement("a");
      a.href = link.href;
      a.textContent = link.text;
      p.appendChild(a);
    }
    errorBox.appendChild(p);
    textarea.setAttribute("aria-invalid", "true");
    textarea.closest(".field").classList.add("field-invalid");
  }

  function clearError() {
    errorBox.textContent = "";
    textarea.removeAttribute("aria-invalid");
    textarea.closest(".field").classList.remove("field-invalid");
  }

  function setBusy(on) {
    busy = on;
    submit.disabled = on;
    submit.textContent = "";
    if (on) {
      var s = document.createElement("span");
      s.className = "spinner";
      s.setAttribute("aria-hidden", "true");
      submit.appendChild(s);
      submit.appendChild(document.createTextNode(" Running…"));
      statusBox.textContent = "Running the agent…";
    } else {
      submit.textContent = submitLabel;
    }
  }

  function addRun(data) {
    var empty = runList.querySelector("[data-no-runs]");
    if (empty) { empty.remove(); }
    var old = document.getElementById("run-" + data.run_id);
    if (old) { old.remove(); }
    var li = document.createElement("li");
    li.id = "run-" + data.run_id;
    li.className = "card run run-highlight run-" + data.status;
    var meta = document.createElement("p");
    meta.className = "run-meta";
    var badge = document.createElement("span");
    badge.className = "badge " + (data.status === "failed" ? "badge-failed" : "badge-ok");
    badge.textContent = data.status === "failed" ? "Failed (refunded)" : "Succeeded";
    meta.appendChild(badge);
    meta.appendChild(document.createTextNode(
      data.status === "failed" ? " Just now · refunded" : " Just now · charged " + formatMoney(data.charged)));
    li.appendChild(meta);
    if (data.status === "succeeded") {
      var pre = document.createElement("pre");
      pre.className = "run-output";
      pre.tabIndex = 0;
      pre.setAttribute("aria-label", "Report");
      pre.textContent = data.output;
      li.appendChild(pre);
    } else {
      var err = document.createElement("p");
      err.className = "run-error";
      err.textContent = data.error;
      li.appendChild(err);
    }
    runList.insertBefore(li, runList.firstChild);
    return li;
  }

  function finish(data) {
    // A definitive answer: the next submission is a new request.
    requestIdInput.value = newRequestId();
    updateBalance(data);
    var li = addRun(data);
    if (data.status === "succeeded") {
      statusBox.textContent = "Done. " + formatMoney(data.charged) + " charged.";
    } else {
      statusBox.textContent = "";
      showError(data.error + " You were not charged.");
    }
    li.scrollIntoView({ block: "nearest" });
  }

  function poll(url, attempt) {
    if (attempt > 60) {
      setBusy(false);
      statusBox.textContent = "Still running. Reload the page later to see the result.";
      return;
    }
    window.setTimeout(function () {
      fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (data) {
          if (data.status === "running") { poll(url, attempt + 1); return; }
          setBusy(false);
          finish(data);
        })
        .catch(function () { poll(url, attempt + 1); });
    }, 1500);
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (busy) { return; }
    clearError();
    if (!textarea.value.trim()) {
      showError("Enter some text for the agent to analyse.");
      textarea.focus();
      return;
    }
    setBusy(true);
    fetch(form.action, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify({ input: textarea.value, request_id: requestIdInput.value })
    }).then(function (response) {
      return response.json().then(function (data) { return { status: response.status, data: data }; });
    }).then(function (res) {
      var data = res.data;
      if (res.status === 202) { poll(data.status_url, 0); statusBox.textContent = data.detail; return; }
      setBusy(false);
      if (res.status === 200 || res.status === 502) { finish(data); return; }
      statusBox.textContent = "";
      if (res.status === 402) {
        showError(data.error, { href: data.redirect_url, text: "Top up your wallet" });
      } else {
        showError(data.error || "Something went wrong. Please try again.");
      }
      if (res.status === 400 || res.status === 409) { requestIdInput.value = newRequestId(); }
      textarea.focus();
    }).catch(function () {
      // Keep the same request id: retrying cannot charge twice.
      setBusy(false);
      statusBox.textContent = "";
      showError("Network problem: the result did not arrive. Try again; you will not be charged twice.");
    });
  });
}());
