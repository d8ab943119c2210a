/* The panel's one script of its own: a question before what cannot be undone.
   A form or a button or link with data-confirm="…" asks it first and goes on only on OK.
   The text travels as an attribute value (HTML-escaped by the server), never as script. */
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var button = event.submitter;
    var question = (button && button.getAttribute("data-confirm")) ||
      form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  }, true);
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("a[data-confirm]");
    if (link && !window.confirm(link.getAttribute("data-confirm"))) {
      event.preventDefault();
    }
  }, true);
})();
