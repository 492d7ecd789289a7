// The console works without this script; it only makes a few things
// nicer: the phone menu folds away, the summary of a form's problems
// takes the focus, and a form shows only the inputs its choices need.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  document.addEventListener("DOMContentLoaded", function () {
    // The menu on narrow screens: a disclosure button over the nav.
    var button = document.querySelector(".menu-button");
    var nav = document.getElementById("site-nav");
    if (button && nav) {
      button.hidden = false;
      button.addEventListener("click", function () {
        var open = button.getAttribute("aria-expanded") !== "true";
        button.setAttribute("aria-expanded", String(open));
        nav.classList.toggle("open", open);
      });
    }

    // A form shown again with problems: focus their summary, so a screen
    // reader reads it and a keyboard user is at its links.
    var summary = document.querySelector("[data-autofocus]");
    if (summary) {
      summary.focus();
    }

    // The overview's dates: editing one means a custom range.
    var period = document.querySelector("[data-period]");
    if (period) {
      ["f-from", "f-to"].forEach(function (id) {
        var input = document.getElementById(id);
        if (input) {
          input.addEventListener("change", function () { period.value = "custom"; });
        }
      });
    }

    // Radio buttons that reveal their own inputs (the commission's kind).
    document.querySelectorAll("[data-reveal]").forEach(function (group) {
      var fieldset = group.closest("fieldset");
      var radios = group.querySelectorAll("input[type=radio]");
      function update() {
        var checked = group.querySelector("input[type=radio]:checked");
        fieldset.querySelectorAll("[data-when]").forEach(function (part) {
          part.hidden = !checked || part.getAttribute("data-when") !== checked.value;
        });
      }
      radios.forEach(function (radio) { radio.addEventListener("change", update); });
      update();
    });
  });
})();
