// The poster design page works without this script; it only makes two
// things quicker: choosing a layout shows its preview at once, and the
// colour picker and the #rrggbb text follow each other.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var select = document.querySelector("[data-preview-layout]");
    var img = document.getElementById("design-preview");
    if (select && img) {
      var show = document.querySelector("[data-preview-show]");
      if (show) {
        show.hidden = true;
      }
      select.addEventListener("change", function () {
        var label = select.options[select.selectedIndex].text;
        img.src = img.getAttribute("data-preview-base") + "?layout=" + encodeURIComponent(select.value);
        img.alt = "The first page of the layout " + label + " as it prints now, on sample posters for an ambassador called Ada";
      });
    }

    var picker = document.querySelector("[data-colour-picker]");
    var text = document.querySelector("[data-colour-text]");
    if (picker && text) {
      picker.addEventListener("input", function () { text.value = picker.value; });
      text.addEventListener("input", function () {
        var v = text.value.trim().toLowerCase();
        if (/^#[0-9a-f]{6}$/.test(v)) {
          picker.value = v;
        }
      });
    }
  });
})();
