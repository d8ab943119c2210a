/* The panel's one script of its own: a question before what cannot be undone.
   A form or a button or link with data-confirm="…" asks it first and goes on only on OK.
   The text travels as an attribute value (HTML-escaped by the server), never as script.
   The Content-Security-Policy runs no inline handler, so this file also does what
   Flask-Admin's templates did in theirs (templates/admin/actions.html, model/layout.html). */
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
  document.addEventListener("click", function (event) {
    var target = event.target.closest && event.target.closest("a");
    if (!target) {
      return;
    }
    // Flask-Admin's links that go nowhere (tabs, pager, menus): the policy would refuse
    // the javascript: URL, and report it, if the click were let through.
    if (target.getAttribute("href") === "javascript:void(0)") {
      event.preventDefault();
    }
    // 选中的 → 指派 …: Flask-Admin's actions.js checks the selection, asks, and posts.
    var action = target.getAttribute("data-crm-action");
    if (action && window.modelActions) {
      window.modelActions.execute(action);
    }
  }, true);
})();
