// History page: copy buttons ([data-copy]) put their value on the clipboard and say so.
(function () {
  "use strict";

  var status = document.getElementById("copy-status");
  var resetTimer = null;

  function announce(text) {
    if (!status) return;
    // Clear first so the same message is announced again on a second copy.
    status.textContent = "";
    window.setTimeout(function () { status.textContent = text; }, 30);
  }

  function fallbackCopy(value) {
    // Older browsers and non-secure origins have no navigator.clipboard.
    var area = document.createElement("textarea");
    area.value = value;
    area.setAttribute("readonly", "");
    area.className = "copy-buffer";
    document.body.appendChild(area);
    area.select();
    var ok = false;
    try {
      ok = document.execCommand("copy");
    } catch (err) {
      ok = false;
    }
    document.body.removeChild(area);
    return ok ? Promise.resolve() : Promise.reject(new Error("copy failed"));
  }

  function copy(value) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(value).catch(function () { return fallbackCopy(value); });
    }
    return fallbackCopy(value);
  }

  function flash(button, text) {
    if (!button.dataset.label) button.dataset.label = button.textContent;
    button.textContent = text;
    window.clearTimeout(resetTimer);
    resetTimer = window.setTimeout(function () {
      document.querySelectorAll("[data-copy][data-label]").forEach(function (b) {
        b.textContent = b.dataset.label;
      });
    }, 2000);
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    var value = button.getAttribute("data-copy");
    copy(value).then(
      function () {
        flash(button, "Copied");
        announce("Copied " + value + " to the clipboard");
      },
      function () {
        flash(button, "Copy failed");
        announce("Could not copy. Select the text and copy it by hand: " + value);
      }
    );
  });
})();
