// One moment of the session shared by the lanes and the curves: hovering or focusing one of them
// shows the same moment in the others (as Grafana's shared crosshair). ``set(ms, from)`` tells
// every other subscriber; null hides it.

export function crosshair() {
  const subscribers = new Set();
  let busy = false;
  return {
    set(ms, from) {
      if (busy) return;  // a subscriber that answers by setting it again
      busy = true;
      try { for (const fn of subscribers) if (fn !== from) fn(ms); } finally { busy = false; }
    },
    subscribe(fn) { subscribers.add(fn); return () => subscribers.delete(fn); },
  };
}
