// The copy button of the page that shows a new API key's token once.
// Without this script the token is still there to select and copy: the
// button stays hidden.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var status = document.querySelector("[data-copy-status]");
    document.querySelectorAll("[data-copy]").forEach(function (button) {
      var input = document.getElementById(button.getAttribute("data-copy"));
      if (!input) {
        return;
      }
      button.hidden = false;
      // A click in the field selects all of it, so a manual copy takes
      // the whole token.
      input.addEventListener("focus", function () { input.select(); });
      button.addEventListener("click", function () {
        input.focus();
        input.select();
        var done = function (ok) {
          if (status) {
            status.textContent = ok ? "Copied." : "Could not copy: select the token and copy it yourself.";
          }
        };
        if (navigator.clipboard && window.isSecureContext) {
          navigator.clipboard.writeText(input.value).then(function () { done(true); }, function () { done(false); });
        } else {
          try {
            done(document.execCommand("copy"));
          } catch (e) {
            done(false);
          }
        }
      });
    });
  });
})();
