// When a JSON endpoint answers 401 (the session ended while the page was open): say so with a link
// to log in again (coming back to this page), and show the nav as it is for a logged-out visitor.
// Exposed as window.NetCopSession; page scripts call ended(box) with the element for the message.
(function () {
  "use strict";

  var MESSAGE = "Your session has ended.";

  function loginUrl() {
    var base = (document.body && document.body.getAttribute("data-login-url")) || "/accounts/login/";
    return base + "?next=" + encodeURIComponent(window.location.pathname + window.location.search);
  }

  // Swap the logged-in nav (links, balance, account, log out) for the logged-out one the server
  // rendered into <template id="nav-logged-out">.
  function showLoggedOutNav() {
    var template = document.getElementById("nav-logged-out");
    var nav = document.querySelector(".site-header .nav");
    if (!template || !nav || nav.getAttribute("data-logged-out") === "true") return;
    nav.querySelectorAll(".nav-links, .nav-account").forEach(function (node) { node.remove(); });
    nav.appendChild(template.content.cloneNode(true));
    nav.setAttribute("data-logged-out", "true");
  }

  // Writes "Your session has ended. Log in again." into box (replacing its text) and updates the nav.
  function ended(box) {
    showLoggedOutNav();
    if (!box) return;
    box.textContent = MESSAGE + " ";
    var link = document.createElement("a");
    link.href = loginUrl();
    link.textContent = "Log in again";
    box.appendChild(link);
    box.appendChild(document.createTextNode("."));
  }

  window.NetCopSession = { MESSAGE: MESSAGE, ended: ended, loginUrl: loginUrl };
})();
