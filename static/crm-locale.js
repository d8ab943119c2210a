/* Flask-Admin's pickers in the user's language.
   Its form.js builds the date pickers (daterangepicker, with moment's month and day names)
   and select2 with their English defaults; the texts come from the page
   (#crm-locale-data, rendered by templates/admin/crm_base.html). This file runs after
   moment and select2 are loaded and before form.js applies its widgets. */
(function ($, moment) {
  "use strict";
  var source = document.getElementById("crm-locale-data");
  if (!source || !$) {
    return;
  }
  var texts = JSON.parse(source.textContent);

  // moment ships only English here: Chinese month and day names, weeks start on Monday.
  if (moment && !moment.locales().includes("zh-cn")) {
    moment.defineLocale("zh-cn", {
      months: "一月_二月_三月_四月_五月_六月_七月_八月_九月_十月_十一月_十二月".split("_"),
      monthsShort: "1月_2月_3月_4月_5月_6月_7月_8月_9月_10月_11月_12月".split("_"),
      weekdays: "星期日_星期一_星期二_星期三_星期四_星期五_星期六".split("_"),
      weekdaysShort: "周日_周一_周二_周三_周四_周五_周六".split("_"),
      weekdaysMin: "日_一_二_三_四_五_六".split("_"),
      week: {dow: 1, doy: 4}
    });
  }
  if (moment) {
    moment.locale(texts.moment);
  }

  function counted(forms, n) {
    return forms[n === 1 ? 0 : 1].replace("{n}", n);
  }

  // select2 3.5: its defaults, for every picker built afterwards.
  var s2 = texts.select2;
  if ($.fn.select2) {
    $.extend($.fn.select2.defaults, {
      formatNoMatches: function () { return s2.noMatches; },
      formatSearching: function () { return s2.searching; },
      formatLoadMore: function () { return s2.loadMore; },
      formatAjaxError: function () { return s2.ajaxError; },
      formatMatches: function (n) { return counted(s2.matches, n); },
      formatInputTooShort: function (input, min) {
        return counted(s2.inputTooShort, min - input.length);
      },
      formatInputTooLong: function (input, max) {
        return counted(s2.inputTooLong, input.length - max);
      },
      formatSelectionTooBig: function (limit) { return counted(s2.selectionTooBig, limit); }
    });
    // form.js passes its own English hint to the comma-separated ("in list") filters.
    var select2 = $.fn.select2;
    $.fn.select2 = function (options) {
      if (options && typeof options === "object" && options.tags && options.formatNoMatches) {
        options.formatNoMatches = function () { return s2.enterValues; };
      }
      return select2.apply(this, arguments);
    };
    $.extend($.fn.select2, select2);
  }

  // daterangepicker 1.3 takes its labels per call: give every call ours. Its script is
  // loaded after this one, before form.js, which announces itself with adminFormReady.
  function localizeDatePickers() {
    var picker = $.fn.daterangepicker;
    if (!picker || picker.crmLocalized) {
      return;
    }
    $.fn.daterangepicker = function (options, callback) {
      var merged = $.extend({}, options);
      merged.locale = $.extend({}, texts.dateRange, options && options.locale);
      return picker.call(this, merged, callback);
    };
    $.fn.daterangepicker.crmLocalized = true;
  }
  localizeDatePickers();
  $(document).on("adminFormReady", localizeDatePickers);

  var toggler = document.querySelector(".navbar-toggler");
  if (toggler) {
    toggler.setAttribute("aria-label", texts.toggleNavigation);
  }
})(window.jQuery, window.moment);
