(function () {
  "use strict";
  // Optional helper: filters the findings list as you type. The report reads fully without it.
  var box = document.getElementById("filter");
  var input = document.getElementById("filter-text");
  var count = document.getElementById("filter-count");
  if (!box || !input || !count) { return; }
  box.hidden = false;
  var items = document.querySelectorAll("article.finding");
  input.addEventListener("input", function () {
    var q = input.value.trim().toLowerCase();
    var shown = 0;
    for (var i = 0; i < items.length; i++) {
      var hit = !q || (items[i].getAttribute("data-search") || "").indexOf(q) !== -1;
      items[i].hidden = !hit;
      if (hit) { shown++; }
    }
    count.textContent = q ? shown + " of " + items.length + " shown" : "";
  });
}());
