/* Agent page: submit runs as JSON, show the server-rendered run and update the nav balance in place.
   Needs common.js (window.NetCop) first. Without JavaScript the form posts normally and the server
   redirects back with the result. */
(function () {
  "use strict";

  var form = document.querySelector("[data-agent-form]");
  if (!form || !window.fetch || !window.NetCop) { return; }
  var submit = form.querySelector("[data-agent-submit]");
  if (!submit) { return; } // balance too low: the page shows a top-up link instead

  var textarea = form.querySelector("textarea[name=input]");
  var requestIdInput = form.querySelector("input[name=request_id]");
  var errorBox = form.querySelector("[data-agent-error]");
  var statusBox = form.querySelector("[data-agent-status]");
  var runList = document.querySelector("[data-run-list]");
  var submitLabel = submit.textContent;
  var busy = false;

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

  // The run as the server rendered it (templates/agents/_run.html), at the top of the list.
  function addRun(data) {
    var empty = runList.querySelector("[data-no-runs]");
    if (empty) { empty.remove(); }
    var old = document.getElementById("run-" + data.run_id);
    if (old) { old.remove(); }
    runList.insertAdjacentHTML("afterbegin", data.html);
    return document.getElementById("run-" + data.run_id);
  }

  function finish(data) {
    // A definitive answer: the next submission is a new request.
    requestIdInput.value = NetCop.uuid();
    NetCop.updateBalance(data);
    var li = addRun(data);
    if (data.status === "succeeded") {
      statusBox.textContent = "Done. " + (data.charged_display || NetCop.formatMoney(data.charged)) + " charged.";
    } else {
      statusBox.textContent = "";
      showError(data.error + " You were not charged.");
    }
    if (li) { li.scrollIntoView({ block: "nearest" }); }
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
    NetCop.postJSON(form.action, { input: textarea.value, request_id: requestIdInput.value }, form)
      .then(function (res) {
        var data = res.body;
        if (res.status === 202) { poll(data.status_url, 0); statusBox.textContent = data.detail; return; }
        setBusy(false);
        // 200: the run finished, succeeded or failed (and refunded); data.status says which.
        if (res.status === 200) { finish(data); return; }
        statusBox.textContent = "";
        if (res.status === 401 && window.NetCopSession) {
          // Logged out meanwhile: link to log in (back to this page) and show the logged-out nav.
          window.NetCopSession.ended(errorBox);
          return;
        } else if (res.status === 402) {
          showError(data.error, { href: data.redirect_url, text: "Top up your wallet" });
        } else {
          showError(data.error || "Something went wrong. Please try again.");
        }
        if (res.status === 400 || res.status === 409) { requestIdInput.value = NetCop.uuid(); }
        textarea.focus();
      }).catch(function () {
        // Keep the same request id: retrying cannot charge twice.
        setBusy(false);
        statusBox.textContent = "";
        showError("Network problem: the result did not arrive. Try again; you will not be charged twice.");
      });
  });
}());
