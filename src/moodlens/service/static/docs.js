// Swagger UI 5 puts its title in an <h1> and each group of operations in an <h3>: screen readers
// meet a level-2 gap. The groups (and the schemas section) are given heading level 2 as soon as Swagger UI renders them.
"use strict";
new MutationObserver(() => {
  for (const heading of document.querySelectorAll("h3.opblock-tag:not([aria-level]), section.models > h4:not([aria-level])")) {
    heading.setAttribute("aria-level", "2");
  }
}).observe(document.body, { childList: true, subtree: true });
