// What screen readers are told: status in a polite live region, errors in an assertive one, each
// message once (the same text again is not repeated; an error is cleared when it no longer holds).

export function announcer(statusRegion, errorRegion) {
  let lastStatus = null;
  let lastError = null;
  return {
    // The visible status line, read out politely when its text changes. ``extra``: nodes after it.
    status(text, ...extra) {
      if (text === lastStatus && !extra.length) return;
      lastStatus = text;
      statusRegion.replaceChildren(text, ...extra.flatMap((node) => [" ", node]));
    },
    // An error, read out at once, once.
    error(text) {
      if (text === lastError) return;
      lastError = text;
      errorRegion.textContent = text;
    },
    clearError() { lastError = null; errorRegion.textContent = ""; },
  };
}
