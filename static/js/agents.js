/* Agent page: submit runs as JSON, show the server-rendered run and update the nav balance in place.
   A queued run (an agent that runs on a task worker) answers 202: the page shows it queued, then
   running, then its result, by polling the run's status URL; runs still pending when the page loads
   (the tab was closed and reopened) are polled too, and a queued run can be canceled (refunded).
   Needs common.js (window.NetCop) first: it owns the messages, busy buttons, 401 and 429 handling. Without JavaScript the form posts normally and the server
   redirects back with the result. */
(function () {
  "use strict";

  var form = document.querySelector("[data-agent-form]");
  if (!form || !window.NetCop) { return; }

  var textarea = form.querySelector("textarea[name=input]");
  var requestIdInput = form.querySelector("input[name=request_id]");
  var errorBox = form.querySelector("[data-agent-error]");
  var statusBox = form.querySelector("[data-agent-status]");
  var counter = form.querySelector("[data-char-count]");
  var runList = document.querySelector("[data-run-list]");
  var submit = form.querySelector("[data-agent-submit]");
  var busy = false;

  // --- limits: the count, live; the server's own message past the limit -------------------------

  var maxChars = parseInt(form.getAttribute("data-max-chars"), 10) || 0;
  var grouping = new Intl.NumberFormat("en-US");

  // Characters as the server counts them (Unicode code points, not UTF-16 units).
  function charCount(text) {
    var low = text.match(/[\uDC00-\uDFFF]/g);
    return text.length - (low ? low.length : 0);
  }

  // The server's over-the-limit message (agents/exceptions.py TOO_LONG, from the page config).
  function tooLongMessage(length) {
    return NetCop.message("tooLong", { length: grouping.format(length), limit: grouping.format(maxChars) });
  }

  var overShown = false;
  function updateCount() {
    var length = charCount(textarea.value);
    var over = maxChars > 0 && length > maxChars;
    counter.textContent = grouping.format(length) + " / " + grouping.format(maxChars);
    counter.classList.toggle("is-over", over);
    if (over) {
      showError(tooLongMessage(length));
      overShown = true;
    } else if (overShown) {
      clearError();
      overShown = false;
    }
    return !over;
  }

  // --- the draft: kept per agent for this tab, so a trip to the wallet does not lose it ----------

  var slug = form.getAttribute("data-agent-slug") || "";
  // Passwords are never written to storage.
  var keepDraft = !form.hasAttribute("data-sensitive");
  var draftKey = "netcop:agent-draft:" + slug;

  var dirty = false; // typed since the draft was last saved or cleared

  function saveDraft() {
    dirty = false;
    if (!keepDraft) { return; }
    try {
      if (textarea.value.trim()) {
        window.sessionStorage.setItem(draftKey, textarea.value);
      } else {
        window.sessionStorage.removeItem(draftKey);
      }
    } catch (e) { /* storage full or disabled: the draft is a convenience */ }
  }

  function clearDraft() {
    dirty = false;
    window.clearTimeout(saveTimer);
    try { window.sessionStorage.removeItem(draftKey); } catch (e) { /* see saveDraft */ }
  }

  function restoreDraft() {
    if (!keepDraft || textarea.value) { return; } // what the server put back wins
    try {
      var draft = window.sessionStorage.getItem(draftKey);
      if (draft) { textarea.value = draft; }
    } catch (e) { /* see saveDraft */ }
  }

  var saveTimer = null;
  textarea.addEventListener("input", function () {
    dirty = true;
    updateCount();
    window.clearTimeout(saveTimer);
    saveTimer = window.setTimeout(saveDraft, 250);
  });
  // Following a top-up link (the page's or a 402's) saves at once.
  form.addEventListener("click", function (event) {
    if (event.target.closest && event.target.closest("[data-topup-link]")) { saveDraft(); }
  });
  window.addEventListener("pagehide", function () { if (dirty) { saveDraft(); } });

  // --- messages ------------------------------------------------------------------------------------

  // `notInput`: the message is not about the text (a 402): the field is not marked invalid.
  function showError(message, link, notInput) {
    errorBox.textContent = "";
    var p = document.createElement("p");
    p.textContent = message;
    if (link && link.href) {
      p.appendChild(document.createTextNode(" "));
      var a = document.createElement("a");
      a.href = link.href;
      a.textContent = link.text;
      a.setAttribute("data-topup-link", "");
      p.appendChild(a);
    }
    errorBox.appendChild(p);
    if (notInput) { return; }
    textarea.setAttribute("aria-invalid", "true");
    textarea.closest(".field").classList.add("field-invalid");
  }

  function clearError() {
    errorBox.textContent = "";
    textarea.removeAttribute("aria-invalid");
    textarea.closest(".field").classList.remove("field-invalid");
  }

  // Any answer that knows the balance (runs and refusals alike: `balance`) updates the nav, and
  // one that knows the month's spending against the limit (`spend_html`, the server's rendering of
  // templates/agents/_spend.html) updates that line: past the limit it becomes the notice with the
  // way out, and the run button is disabled, as the page shows it on load.
  function updateNav(data) {
    NetCop.updateBalance(data);
    updateSpend(data);
  }

  function updateSpend(data) {
    var box = form.querySelector("[data-spend]");
    if (!data || !data.spend_html || !box) { return null; }
    box.insertAdjacentHTML("beforebegin", data.spend_html);
    box.remove();
    box = form.querySelector("[data-spend]");
    var over = box.hasAttribute("data-spend-over");
    var button = form.querySelector("[data-agent-submit]");
    if (button && button.getAttribute("aria-busy") !== "true") { button.disabled = over; }
    return over ? box.querySelector("[data-spend-notice]") : null;
  }

  // Focus goes where the answer is: the run's summary in the list. Only when focus was lost (the
  // busy button was disabled, the cancel form replaced), never taken from where someone is typing
  // when a queued run finishes later.
  function focusRun(li) {
    var summary = li && li.querySelector("summary");
    var lost = !document.activeElement || document.activeElement === document.body;
    if (summary && lost) { summary.focus({ preventScroll: true }); }
    if (li) { li.scrollIntoView({ block: "nearest" }); }
  }

  restoreDraft();
  updateCount();

  // --- queued runs: follow them until their result arrives; cancel a queued one ------------------

  var watched = {};

  // Replace a run's list item with the server's rendering of it (templates/agents/_run.html).
  function showRun(data) {
    if (!data.html || !runList) { return null; }
    var empty = runList.querySelector("[data-no-runs]");
    if (empty) { empty.remove(); }
    var old = document.getElementById("run-" + data.run_id);
    if (old) {
      old.insertAdjacentHTML("beforebegin", data.html);
      old.remove();
    } else {
      runList.insertAdjacentHTML("afterbegin", data.html);
    }
    return document.getElementById("run-" + data.run_id);
  }

  function getJSON(url) {
    return fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) { if (!r.ok) { throw new Error("status " + r.status); } return r.json(); });
  }

  // Poll a pending run until it finishes: every 1.5 s at first, then every 5 s, for up to ~15 min
  // (a queued run is refunded long before: AGENT_QUEUE_MAX_WAIT). onUpdate sees every answer.
  function watch(url, onUpdate, attempt) {
    attempt = attempt || 0;
    if (attempt > 200) { onUpdate(null); return; }
    window.setTimeout(function () {
      getJSON(url).then(function (data) {
        onUpdate(data);
        if (data.status === "queued" || data.status === "running") { watch(url, onUpdate, attempt + 1); }
      }).catch(function () { watch(url, onUpdate, attempt + 1); });
    }, attempt < 40 ? 1500 : 5000);
  }

  if (runList && window.fetch) {
    // Runs already pending when the page loads: keep them up to date without a reload.
    runList.querySelectorAll("[data-run-pending]").forEach(function (li) {
      var url = li.getAttribute("data-run-pending");
      if (watched[url]) { return; }
      watched[url] = true;
      watch(url, function (data) {
        if (!data) { return; }
        showRun(data);
        if (data.status !== "queued" && data.status !== "running") { updateNav(data); }
      });
    });

    // "Cancel and refund" on a queued run, without leaving the page.
    runList.addEventListener("submit", function (event) {
      var cancel = event.target.closest("[data-run-cancel]");
      if (!cancel) { return; }
      event.preventDefault();
      var button = cancel.querySelector("button");
      if (button) { button.disabled = true; }
      NetCop.postJSON(cancel.action, {}, cancel).then(function (res) {
        if (res.status === 200) {
          var li = showRun(res.body);
          updateNav(res.body);
          statusBox.textContent = "Run canceled and refunded.";
          focusRun(li); // the canceled form is gone with its button
          return;
        }
        if (button) { button.disabled = false; }
        if (NetCop.handledRefusal(res, statusBox, button ? [button] : [])) { return; }
        statusBox.textContent = NetCop.errorText(res);
      }).catch(function () {
        if (button) { button.disabled = false; }
        statusBox.textContent = "Network problem: the run was not canceled. Try again.";
      });
    });
  }

  if (!submit || !window.fetch) { return; } // balance too low: the page shows a top-up link instead

  function setBusy(on) {
    busy = on;
    NetCop.setBusy(submit, on, "Running…");
    // Past the spend limit the button stays disabled (the notice above it says why).
    if (!on && form.querySelector("[data-spend-over]")) { submit.disabled = true; }
    if (on) { statusBox.textContent = "Running the agent…"; }
  }

  // The run as the server rendered it (templates/agents/_run.html), expanded at the top of the
  // list; the older runs collapse.
  function addRun(data) {
    var empty = runList.querySelector("[data-no-runs]");
    if (empty) { empty.remove(); }
    var old = document.getElementById("run-" + data.run_id);
    if (old) { old.remove(); }
    runList.querySelectorAll(".run-highlight").forEach(function (li) { li.classList.remove("run-highlight"); });
    runList.querySelectorAll("details[data-run][open]").forEach(function (d) { d.open = false; });
    runList.insertAdjacentHTML("afterbegin", data.html);
    var li = document.getElementById("run-" + data.run_id);
    var details = li && li.querySelector("details[data-run]");
    if (details) { details.open = true; }
    return li;
  }

  function showTopup(href, label) {
    if (!href) { return; }
    var link = form.querySelector("a.button[data-topup-link]");
    if (!link) {
      link = document.createElement("a");
      link.className = "button";
      link.setAttribute("data-topup-link", "");
      submit.parentNode.insertBefore(link, submit.nextSibling);
    }
    link.href = href;
    link.textContent = label;
    submit.hidden = true;
    link.focus(); // the next step; the message above says why
  }

  function finish(data) {
    // A definitive answer: the next submission is a new request.
    requestIdInput.value = NetCop.uuid();
    updateNav(data);
    var li = addRun(data);
    if (data.status === "succeeded") {
      clearDraft();
      statusBox.textContent = "Done. " + (data.charged_display || NetCop.formatMoney(data.charged)) + " charged.";
    } else {
      statusBox.textContent = "";
      showError(data.error + " You were not charged.");
    }
    focusRun(li);
  }

  // A 202: the run is queued or running. Show it in the list, free the form for another run (the
  // charge is done), and follow the run until its result arrives.
  function pending(data) {
    requestIdInput.value = NetCop.uuid();
    clearDraft();
    setBusy(false);
    statusBox.textContent = data.detail;
    var li = addRun(data);
    focusRun(li);
    watched[data.status_url] = true;
    watch(data.status_url, function (update) {
      if (!update) {
        statusBox.textContent = "Still running. Your recent runs will show the result.";
        return;
      }
      if (update.status === "queued" || update.status === "running") {
        showRun(update);
        statusBox.textContent = update.detail;
        return;
      }
      finish(update);
    });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (busy) { return; }
    clearError();
    overShown = false;
    if (!updateCount()) { textarea.focus(); return; } // over the limit: refused here, as the server would
    saveDraft();
    setBusy(true);
    NetCop.postJSON(form.action, { input: textarea.value, request_id: requestIdInput.value }, form)
      .then(function (res) {
        var data = res.body;
        updateNav(data);
        if (res.status === 202) { pending(data); return; }
        setBusy(false);
        // 200: the run finished, succeeded or failed (and refunded); data.status says which.
        if (res.status === 200) { finish(data); return; }
        statusBox.textContent = "";
        // Logged out meanwhile (a link to log in again), or too many runs (counted down).
        if (NetCop.handledRefusal(res, errorBox, [submit])) {
          return;
        } else if (res.status === 402 && data.code === "spend_limit") {
          // The page's spend line becomes the notice (updateNav above): the refusal said once,
          // with its one link, and focus on it. Without the line, the server's words and link.
          var notice = updateSpend(data) || form.querySelector("[data-spend-notice]");
          if (notice) {
            notice.focus();
          } else {
            showError(data.error, { href: data.settings_url, text: data.settings_label }, true);
            errorBox.setAttribute("tabindex", "-1");
            errorBox.focus();
          }
        } else if (res.status === 402) {
          // The balance, price and shortfall in words; the run button becomes the way to top up.
          showError(data.error, null, true);
          showTopup(data.topup_url, data.topup_label);
        } else {
          showError(NetCop.errorText(res));
          if (res.status === 413) { counter.classList.add("is-over"); }
        }
        if (res.status === 400 || res.status === 409 || res.status === 413) { requestIdInput.value = NetCop.uuid(); }
        if (res.status !== 402) { textarea.focus(); }
      }).catch(function () {
        // Keep the same request id: retrying cannot charge twice.
        setBusy(false);
        statusBox.textContent = "";
        showError("Network problem: the result did not arrive. Try again; you will not be charged twice.");
      });
  });
}());
