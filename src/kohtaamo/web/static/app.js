// Small page helpers; no inline scripts, so pages work under a strict Content-Security-Policy.
"use strict";
(function () {
  // After a form answered with a one-time page (e.g. a new API key), make the address the page's
  // GET URL, so that a reload never re-submits the form nor shows the secret again.
  var target = document.body && document.body.dataset.replaceUrl;
  if (target && window.history && history.replaceState) {
    history.replaceState(null, "", target + window.location.hash);
  }
})();
