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

// Balance chart: an instant tooltip with the day and balance under the pointer (the SVG's own
// <title> tooltips are the no-JavaScript fallback, removed here so the two don't show together).
(function () {
  "use strict";

  var frame = document.querySelector(".chart-frame");
  if (!frame) return;
  var svg = frame.querySelector("svg");
  var tip = frame.querySelector(".chart-tooltip");
  var active = null;
  frame.querySelectorAll(".chart-hit > title").forEach(function (title) { title.remove(); });

  function show(hit) {
    if (active === hit) return;
    if (active) active.classList.remove("is-active");
    active = hit;
    hit.classList.add("is-active");
    var dot = hit.querySelector(".chart-hit-dot");
    var box = dot.getBoundingClientRect();
    var outer = frame.getBoundingClientRect();
    tip.textContent = hit.getAttribute("data-label");
    tip.hidden = false;
    var x = box.left + box.width / 2 - outer.left;
    // Keep the tooltip inside the frame near the edges.
    var half = tip.offsetWidth / 2;
    x = Math.max(half, Math.min(outer.width - half, x));
    tip.style.left = x + "px";
    tip.style.top = (box.top - outer.top) + "px";
  }

  function hide() {
    if (active) active.classList.remove("is-active");
    active = null;
    tip.hidden = true;
  }

  svg.addEventListener("pointermove", function (event) {
    var hit = event.target.closest && event.target.closest(".chart-hit");
    if (hit) show(hit); else hide();
  });
  svg.addEventListener("pointerleave", hide);
})();
