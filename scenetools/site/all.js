// Filters and sorting for all.html: cards carry data-* attributes; nothing is fetched.
(function () {
  "use strict";
  var form = document.getElementById("filters");
  var count = document.getElementById("count");
  var sortSel = document.getElementById("sort");
  var groups = Array.prototype.slice.call(document.querySelectorAll("section.group"));
  var cards = Array.prototype.slice.call(document.querySelectorAll(".card"));
  var original = new Map();
  groups.forEach(function (g) {
    original.set(g, Array.prototype.slice.call(g.querySelectorAll(".card")));
  });

  function wanted() {
    var rules = [];
    form.querySelectorAll("[data-filter]").forEach(function (el) {
      var key = el.getAttribute("data-filter");
      if (el.type === "checkbox") {
        if (el.checked) rules.push([key, el.value]);
      } else if (el.value !== "") {
        rules.push([key, el.value]);
      }
    });
    return rules;
  }

  function apply() {
    var rules = wanted();
    var shown = 0;
    cards.forEach(function (card) {
      var ok = rules.every(function (r) { return card.getAttribute("data-" + r[0]) === r[1]; });
      card.hidden = !ok;
      if (ok) shown += 1;
    });
    groups.forEach(function (g) {
      var n = g.querySelectorAll(".card:not([hidden])").length;
      g.hidden = n === 0;
      g.querySelector(".gcount").textContent = n;
    });
    count.textContent = shown + " of " + cards.length + " images";
    count.setAttribute("data-shown", String(shown));
  }

  function sort() {
    var spec = sortSel.value;
    groups.forEach(function (g) {
      var list = original.get(g).slice();
      if (spec) {
        var parts = spec.split(":");
        var key = "data-" + parts[0];
        var dir = parts[1] === "asc" ? 1 : -1;
        list.sort(function (a, b) {
          var x = parseFloat(a.getAttribute(key)), y = parseFloat(b.getAttribute(key));
          if (isNaN(x)) return 1;
          if (isNaN(y)) return -1;
          return dir * (x - y);
        });
      }
      var box = g.querySelector(".cards");
      list.forEach(function (c) { box.appendChild(c); });
    });
  }

  form.addEventListener("change", function (ev) {
    if (ev.target === sortSel) sort(); else apply();
  });
  form.addEventListener("submit", function (ev) { ev.preventDefault(); });
  apply();
})();
