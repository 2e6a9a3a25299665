/* AI Lounge: live progress over one websocket (ws/me/). Every page works without this file.
 *
 * Load it before app.js (both `defer`): it sets window.AILounge.watchGeneration, which app.js
 * keeps and calls for every [data-generation-id][data-generation-active] element. Then:
 * - one socket to ws(s)://<host>/ws/me/ carries the events of all the user's jobs;
 * - every (re)connect asks for a fresh snapshot of the watched jobs (the server also sends one
 *   of the active jobs), so nothing missed while offline is lost;
 * - a dropped socket reconnects with exponential backoff (0.5 s doubling to 15 s, jittered),
 *   showing "Reconnecting…"; 4401/4404 (signed out, not yours) stop it;
 * - if websockets never open (blocked by a proxy), each job falls back to app.js's REST polling
 *   (AILounge.pollGeneration), which stops again once the socket opens;
 * - events are painted with app.js's AILounge.applyGeneration (progress bar role=progressbar
 *   with aria-valuenow, stage, status, queue position, player), plus the ETA here;
 * - a Cancel form ([data-cancel-form]) sends {"type": "cancel", "id"} on the socket and shows
 *   "Canceling…" at once; without a socket the form posts as usual.
 * window.AILounge.live exposes the state for tests and the console.
 */
(function () {
  "use strict";

  var AILounge = (window.AILounge = window.AILounge || {});
  var TERMINAL = ["succeeded", "failed", "canceled"];
  var BACKOFF_MIN_MS = 500;
  var BACKOFF_MAX_MS = 15000;
  var FALLBACK_AFTER_FAILURES = 3; // never opened after this many tries: poll instead
  var FINAL_CLOSE_CODES = [4401, 4403, 4404];

  var jobs = {}; // id -> {els: [], state: {}, stopPoll: function|null, canceling: bool}
  var socket = null;
  var reconnectTimer = null;
  var countdownTimer = null;

  var live = (AILounge.live = {
    connected: false,
    opens: 0, // successful (re)connects
    failures: 0, // closes since the last successful open
    everOpened: false,
    stopped: false, // refused for good (4401/4404): no more reconnects
    jobs: jobs,
    socket: function () {
      return socket;
    },
  });

  function isTerminal(status) {
    return TERMINAL.indexOf(status) !== -1;
  }

  function field(root, name) {
    return root.querySelector('[data-field="' + name + '"]');
  }

  function setText(node, text) {
    if (node && node.textContent !== text) node.textContent = text;
  }

  function url() {
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    return scheme + window.location.host + "/ws/me/";
  }

  function send(message) {
    if (!socket || socket.readyState !== 1) return false;
    socket.send(JSON.stringify(message));
    return true;
  }

  /* --- painting --------------------------------------------------------------------------- */

  function formatEta(seconds) {
    var s = Math.max(0, Math.round(seconds));
    if (s < 60) return s + " s";
    var m = Math.floor(s / 60);
    if (m < 60) return m + " min " + String(s % 60).padStart(2, "0") + " s";
    return Math.floor(m / 60) + " h " + String(m % 60).padStart(2, "0") + " min";
  }

  function etaNode(el) {
    var node = field(el, "eta");
    if (node) return node;
    var progress = el.querySelector("[data-progress]");
    if (!progress) return null;
    var wrap = document.createElement("p");
    wrap.className = "progress__queue progress__eta";
    wrap.setAttribute("data-field", "eta_wrap");
    wrap.hidden = true;
    wrap.append("About ");
    node = document.createElement("strong");
    node.setAttribute("data-field", "eta");
    wrap.append(node, " left");
    progress.append(wrap);
    return node;
  }

  function paintEta(job) {
    var state = job.state;
    var left = null;
    if (typeof state.eta_seconds === "number" && !isTerminal(state.status)) {
      left = state.eta_seconds - (Date.now() - state.receivedAt) / 1000;
    }
    job.els.forEach(function (el) {
      var node = etaNode(el);
      if (!node) return;
      var wrap = field(el, "eta_wrap") || node.parentNode;
      wrap.hidden = left === null;
      setText(node, left === null ? "" : formatEta(left));
    });
  }

  /* The minimal painter for pages without app.js; app.js's applyGeneration does the full job. */
  function paintBasic(el, data) {
    if (data.status) el.setAttribute("data-status", data.status);
    if (data.stage) setText(field(el, "stage"), data.stage);
    if (typeof data.progress === "number") {
      var percent = Math.max(0, Math.min(100, Math.round(data.progress * 100)));
      var bar = el.querySelector('[role="progressbar"]');
      if (bar) bar.setAttribute("aria-valuenow", String(percent));
    }
    if ("queue_position" in data) {
      setText(field(el, "queue_position"), data.queue_position ? String(data.queue_position) : "");
    }
  }

  function connectionNote(text) {
    Object.keys(jobs).forEach(function (id) {
      jobs[id].els.forEach(function (el) {
        var node = field(el, "connection") || el.querySelector("[data-announce]");
        if (!node) return;
        if (text) {
          node.setAttribute("data-live-note", "");
          setText(node, text);
        } else if (node.hasAttribute("data-live-note")) {
          node.removeAttribute("data-live-note");
          setText(node, "");
        }
      });
    });
  }

  function apply(event) {
    var job = jobs[event.id];
    if (!job) return;
    var state = job.state;
    if (isTerminal(state.status)) return; // a late progress event after the end
    if (
      event.type === "progress" &&
      event.status === state.status &&
      typeof state.progress === "number" &&
      event.progress < state.progress
    ) {
      return; // an older event overtaken by a newer one: the bar never goes back
    }
    for (var key in event) {
      if (key !== "type") state[key] = event[key];
    }
    state.receivedAt = Date.now();
    job.els.forEach(function (el) {
      if (AILounge.applyGeneration) AILounge.applyGeneration(el, event);
      else paintBasic(el, event);
    });
    paintEta(job);
    if (isTerminal(state.status)) forget(event.id);
    else if (job.canceling) markCanceling(job);
  }

  function handle(message) {
    if (message.type === "snapshot") {
      (message.generations || []).forEach(apply);
    } else if (message.type === "progress" || message.type === "finished") {
      apply(message);
    } else if (message.type === "error") {
      Object.keys(jobs).forEach(function (id) {
        var job = jobs[id];
        if (!job.canceling) return;
        job.canceling = false;
        job.els.forEach(function (el) {
          restoreCancel(el);
          setText(el.querySelector("[data-announce]"), message.detail || "That did not work.");
        });
      });
    }
  }

  function forget(id) {
    var job = jobs[id];
    if (job && job.stopPoll) job.stopPoll();
    delete jobs[id];
    if (Object.keys(jobs).length) return;
    window.clearInterval(countdownTimer);
    countdownTimer = null;
    if (socket) {
      socket.onclose = null; // nothing left to follow: a quiet close, no reconnect
      socket.close(1000);
      socket = null;
      live.connected = false;
    }
  }

  /* --- cancel ----------------------------------------------------------------------------- */

  function markCanceling(job) {
    job.els.forEach(function (el) {
      var button = el.querySelector("[data-cancel-form] button");
      if (!button) return;
      if (!button.hasAttribute("data-live-label")) {
        button.setAttribute("data-live-label", button.textContent);
      }
      button.disabled = true;
      button.textContent = "Canceling…";
    });
  }

  function restoreCancel(el) {
    var button = el.querySelector("[data-cancel-form] button");
    if (!button || !button.hasAttribute("data-live-label")) return;
    button.disabled = false;
    button.textContent = button.getAttribute("data-live-label");
    button.removeAttribute("data-live-label");
  }

  document.addEventListener("submit", function (event) {
    var form = event.target.closest ? event.target.closest("[data-cancel-form]") : null;
    if (!form) return;
    var el = form.closest("[data-generation-id]");
    var job = el && jobs[el.getAttribute("data-generation-id")];
    if (!job) return;
    job.canceling = true;
    markCanceling(job);
    // Without a socket the form posts as usual; the label says "Canceling…" until it reloads.
    if (send({ type: "cancel", id: el.getAttribute("data-generation-id") })) event.preventDefault();
  });

  /* --- the socket ------------------------------------------------------------------------- */

  function startPolling() {
    if (!AILounge.pollGeneration) return;
    Object.keys(jobs).forEach(function (id) {
      var job = jobs[id];
      if (!job.stopPoll) job.stopPoll = AILounge.pollGeneration(job.els[0]) || null;
    });
  }

  function stopPolling() {
    Object.keys(jobs).forEach(function (id) {
      if (jobs[id].stopPoll) {
        jobs[id].stopPoll();
        jobs[id].stopPoll = null;
      }
    });
  }

  function scheduleReconnect() {
    if (reconnectTimer || live.stopped || !Object.keys(jobs).length) return;
    var base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * Math.pow(2, live.failures - 1));
    var delay = base / 2 + Math.random() * (base / 2);
    reconnectTimer = window.setTimeout(function () {
      reconnectTimer = null;
      connect();
    }, delay);
  }

  function connect() {
    if (socket || live.stopped || !Object.keys(jobs).length) return;
    if (!("WebSocket" in window)) {
      startPolling();
      return;
    }
    try {
      socket = new WebSocket(url());
    } catch (error) {
      socket = null;
      startPolling();
      return;
    }
    var current = socket;
    current.onopen = function () {
      live.connected = true;
      live.everOpened = true;
      live.failures = 0;
      live.opens += 1;
      stopPolling();
      connectionNote("");
      send({ type: "snapshot", ids: Object.keys(jobs) });
    };
    current.onmessage = function (message) {
      var data;
      try {
        data = JSON.parse(message.data);
      } catch (error) {
        return;
      }
      handle(data);
    };
    current.onclose = function (event) {
      if (socket !== current) return;
      socket = null;
      live.connected = false;
      live.failures += 1;
      if (FINAL_CLOSE_CODES.indexOf(event.code) !== -1) {
        live.stopped = true;
        startPolling(); // the REST API says what is wrong (signed out, not found)
        return;
      }
      if (!live.everOpened && live.failures >= FALLBACK_AFTER_FAILURES) startPolling();
      if (live.everOpened) connectionNote("Reconnecting…");
      scheduleReconnect();
    };
  }

  function reconnectNow() {
    if (socket || live.stopped) return;
    window.clearTimeout(reconnectTimer);
    reconnectTimer = null;
    connect();
  }

  window.addEventListener("online", reconnectNow);
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) reconnectNow();
  });

  /* Follow a job element live. Returns a stop() like app.js's pollGeneration. */
  AILounge.watchGeneration = function (el) {
    var id = el.getAttribute("data-generation-id");
    if (!id) return function () {};
    var job = jobs[id];
    if (!job) {
      job = jobs[id] = { els: [], state: { status: el.getAttribute("data-status") }, stopPoll: null };
    }
    if (job.els.indexOf(el) === -1) job.els.push(el);
    if (live.connected) send({ type: "snapshot", ids: [id] });
    else if (live.stopped || (!live.everOpened && live.failures >= FALLBACK_AFTER_FAILURES)) {
      startPolling();
    }
    connect();
    if (!countdownTimer) {
      countdownTimer = window.setInterval(function () {
        Object.keys(jobs).forEach(function (key) {
          paintEta(jobs[key]);
        });
      }, 1000);
    }
    return function stop() {
      forget(id);
    };
  };
})();
