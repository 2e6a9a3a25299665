/* AI Lounge: small progressive enhancements. Every page works without this file.
 *
 * window.AILounge.watchGeneration(el) keeps a job page up to date. The default polls the REST
 * API every second; static/js/live.js may replace it with a websocket version, and can reuse
 * AILounge.applyGeneration(el, data) to paint snapshots and events, and AILounge.pollGeneration
 * as a fallback.
 */
(function () {
  "use strict";

  var AILounge = (window.AILounge = window.AILounge || {});
  var TERMINAL = ["succeeded", "failed", "canceled"];
  var STATUS_LABELS = {
    queued: "Queued",
    running: "Running",
    succeeded: "Succeeded",
    failed: "Failed",
    canceled: "Canceled",
  };
  var POLL_MS = 1000;
  var POLL_MAX_MS = 10000;

  function field(root, name) {
    return root.querySelector('[data-field="' + name + '"]');
  }

  function setText(node, text) {
    if (node && node.textContent !== text) node.textContent = text;
  }

  /* --- tabs (links that work without JS; ARIA tabs with it) -------------------------------- */

  function initTabs(container) {
    var tabs = Array.prototype.slice.call(container.querySelectorAll('[role="tab"]'));

    function select(tab, focus) {
      tabs.forEach(function (other) {
        var selected = other === tab;
        other.setAttribute("aria-selected", selected ? "true" : "false");
        other.tabIndex = selected ? 0 : -1;
        var panel = document.getElementById(other.getAttribute("aria-controls"));
        if (panel) panel.hidden = !selected;
      });
      if (focus) tab.focus();
      var url = new URL(window.location.href);
      url.searchParams.set("kind", tab.id.replace(/^tab-/, ""));
      window.history.replaceState(null, "", url);
    }

    tabs.forEach(function (tab, index) {
      tab.addEventListener("click", function (event) {
        event.preventDefault();
        select(tab, false);
      });
      tab.addEventListener("keydown", function (event) {
        var next = null;
        if (event.key === "ArrowRight") next = tabs[(index + 1) % tabs.length];
        else if (event.key === "ArrowLeft") next = tabs[(index - 1 + tabs.length) % tabs.length];
        else if (event.key === "Home") next = tabs[0];
        else if (event.key === "End") next = tabs[tabs.length - 1];
        else if (event.key === " ") next = tab;
        if (next) {
          event.preventDefault();
          select(next, true);
        }
      });
    });
  }

  /* --- the create forms ------------------------------------------------------------------- */

  function initCounter(counter) {
    var input = document.getElementById(counter.getAttribute("data-counter-for"));
    var value = counter.querySelector("[data-counter-value]");
    if (!input || !value) return;
    var max = parseInt(input.getAttribute("maxlength"), 10) || 0;
    function update() {
      var length = input.value.length;
      value.textContent = String(length);
      counter.classList.toggle("counter--near", max > 0 && length > max * 0.9);
    }
    input.addEventListener("input", update);
    update();
  }

  function initRange(input) {
    var output = input.closest(".field").querySelector("[data-range-output]");
    if (!output) return;
    function update() {
      output.textContent = Number(input.value).toFixed(2);
    }
    input.addEventListener("input", update);
    update();
  }

  function initImagePreview(form) {
    var input = form.querySelector('input[type="file"]');
    var preview = form.querySelector("[data-image-preview]");
    if (!input || !preview) return;
    var objectUrl = null;
    input.addEventListener("change", function () {
      if (objectUrl) URL.revokeObjectURL(objectUrl);
      var file = input.files && input.files[0];
      if (!file || !/^image\//.test(file.type)) {
        preview.hidden = true;
        return;
      }
      objectUrl = URL.createObjectURL(file);
      preview.src = objectUrl;
      preview.hidden = false;
    });
  }

  function quoteQuery(form) {
    var query = new URLSearchParams({ kind: form.getAttribute("data-create-form") });
    ["num_frames", "fps", "seed", "motion_strength"].forEach(function (name) {
      var input = form.elements[name];
      if (input && input.value !== "") query.set(name, input.value);
    });
    var size = form.elements.size;
    if (size && size.value) {
      var parts = size.value.split("x");
      query.set("width", parts[0]);
      query.set("height", parts[1]);
    }
    return query;
  }

  function initQuote(form) {
    var url = form.getAttribute("data-quote-url");
    var target = form.querySelector("[data-quote]");
    if (!url || !target || !window.fetch) return;
    var timer = null;
    var latest = 0;
    function refresh() {
      var ticket = ++latest;
      fetch(url + "?" + quoteQuery(form).toString(), {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      })
        .then(function (response) {
          return response.json().then(function (body) {
            return { ok: response.ok, body: body };
          });
        })
        .then(function (result) {
          if (ticket !== latest) return;
          if (result.ok) {
            var credits = result.body.credits;
            target.innerHTML = "";
            target.append("Costs ");
            var strong = document.createElement("strong");
            strong.textContent = String(credits);
            target.append(strong, credits === 1 ? " credit" : " credits");
          } else {
            target.textContent = result.body.detail || "Check the options.";
          }
        })
        .catch(function () {
          /* the price is a hint; the server prices the real request */
        });
    }
    form.addEventListener("input", function (event) {
      if (event.target.type === "file" || event.target.tagName === "TEXTAREA") return;
      clearTimeout(timer);
      timer = setTimeout(refresh, 300);
    });
  }

  function initSubmitOnce(form) {
    form.addEventListener("submit", function () {
      var button = form.querySelector('button[type="submit"]');
      if (!button) return;
      // after this tick, so the button's own name/value (if any) is still sent
      window.setTimeout(function () {
        button.disabled = true;
        button.setAttribute("data-label", button.textContent);
        button.textContent = "Starting…";
      }, 0);
    });
  }

  window.addEventListener("pageshow", function (event) {
    if (!event.persisted) return; // restored from the back/forward cache: re-arm the buttons
    document.querySelectorAll("button[data-label]").forEach(function (button) {
      button.disabled = false;
      button.textContent = button.getAttribute("data-label");
    });
  });

  /* --- one generation --------------------------------------------------------------------- */

  function refreshCredits() {
    var badge = document.querySelector("[data-credits] strong");
    if (!badge || !window.fetch) return;
    fetch("/api/v1/me/", { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        return response.ok ? response.json() : null;
      })
      .then(function (me) {
        if (me && typeof me.credits === "number") badge.textContent = String(me.credits);
      })
      .catch(function () {});
  }

  function mountVideo(el, data) {
    var slot = el.querySelector('[data-slot="player"]');
    if (!slot || slot.querySelector("video")) return;
    var video = document.createElement("video");
    video.className = "player__video";
    video.controls = true;
    video.loop = true;
    video.preload = "metadata";
    video.playsInline = true;
    video.setAttribute("playsinline", "");
    video.setAttribute("aria-label", "Generated video");
    if (data.thumbnail_url) video.poster = data.thumbnail_url;
    if (data.width && data.height) {
      video.width = data.width;
      video.height = data.height;
      slot.style.aspectRatio = data.width + " / " + data.height;
    }
    video.src = data.video_url;
    slot.replaceChildren(video);
    slot.classList.remove("player--waiting");
  }

  function finish(el, data) {
    if (el.hasAttribute("data-finished")) return;
    el.setAttribute("data-finished", "");
    el.removeAttribute("data-generation-active");
    var progress = el.querySelector("[data-progress]");
    if (progress) progress.hidden = true;
    var cancel = el.querySelector("[data-cancel-form]");
    if (cancel) cancel.remove();
    var announce = el.querySelector("[data-announce]");

    if (data.status === "succeeded" && data.video_url) {
      mountVideo(el, data);
      var download = field(el, "download");
      if (download) {
        download.href = data.video_url;
        download.hidden = false;
      }
      setText(announce, "Your video is ready.");
    } else {
      var box = field(el, "error");
      var canceled = data.status === "canceled";
      setText(field(el, "error_title"), canceled ? "Canceled." : "It failed.");
      setText(
        field(el, "error_text"),
        data.error || (canceled ? "Your credits were refunded." : "Something went wrong.")
      );
      if (box) box.hidden = false;
      var player = el.querySelector('[data-slot="player"]');
      if (player) player.hidden = true;
      setText(
        announce,
        canceled ? "Generation canceled." : "Generation failed: " + (data.error || "unknown error")
      );
      refreshCredits();
    }
  }

  /* Paint a snapshot (REST body) or a live event onto the job page; every key is optional. */
  AILounge.applyGeneration = function (el, data) {
    if (!data) return;
    if (data.status) {
      el.setAttribute("data-status", data.status);
      var chip = field(el, "status");
      if (chip) {
        chip.className = "chip chip--" + data.status;
        setText(chip, STATUS_LABELS[data.status] || data.status);
      }
    }
    if (data.stage) setText(field(el, "stage"), data.stage);
    if (typeof data.progress === "number") {
      var percent = Math.max(0, Math.min(100, Math.round(data.progress * 100)));
      var bar = el.querySelector('[role="progressbar"]');
      if (bar) {
        bar.setAttribute("aria-valuenow", String(percent));
        bar.setAttribute("aria-valuetext", percent + "%, " + (data.stage || ""));
      }
      var fill = field(el, "bar");
      if (fill) fill.style.width = percent + "%";
      setText(field(el, "percent"), percent + "%");
    }
    if ("queue_position" in data) {
      var queue = field(el, "queue");
      if (queue) queue.hidden = !data.queue_position;
      setText(field(el, "queue_position"), data.queue_position ? String(data.queue_position) : "");
    }
    if (data.engine && TERMINAL.indexOf(data.status) !== -1) setText(field(el, "engine"), data.engine);
    if (TERMINAL.indexOf(data.status) !== -1) finish(el, data);
  };

  /* Poll GET /api/v1/generations/<id>/ every second until the job ends. Returns a stop(). */
  AILounge.pollGeneration = function (el) {
    var url = el.getAttribute("data-api-url");
    var stopped = false;
    var timer = null;
    var delay = POLL_MS;

    function tick() {
      if (stopped) return;
      fetch(url, {
        credentials: "same-origin",
        cache: "no-store",
        headers: { Accept: "application/json" },
      })
        .then(function (response) {
          if ([401, 403, 404].indexOf(response.status) !== -1) {
            stopped = true;
            setText(el.querySelector("[data-announce]"), "Lost access to this job; reload the page.");
            return null;
          }
          if (!response.ok) throw new Error("HTTP " + response.status);
          return response.json();
        })
        .then(function (data) {
          if (!data) return;
          delay = POLL_MS;
          AILounge.applyGeneration(el, data);
          if (TERMINAL.indexOf(data.status) !== -1) stopped = true;
        })
        .catch(function () {
          delay = Math.min(delay * 2, POLL_MAX_MS); // a blip: back off, keep trying
        })
        .then(function () {
          if (!stopped) timer = window.setTimeout(tick, delay);
        });
    }

    tick();
    return function stop() {
      stopped = true;
      window.clearTimeout(timer);
    };
  };

  if (!AILounge.watchGeneration) AILounge.watchGeneration = AILounge.pollGeneration;

  /* --- start ------------------------------------------------------------------------------ */

  function init() {
    document.querySelectorAll("[data-tabs]").forEach(initTabs);
    document.querySelectorAll("[data-counter-for]").forEach(initCounter);
    document.querySelectorAll('.field--range input[type="range"]').forEach(initRange);
    document.querySelectorAll("[data-create-form]").forEach(function (form) {
      initImagePreview(form);
      initQuote(form);
      initSubmitOnce(form);
    });
    document.querySelectorAll("[data-generation-id][data-generation-active]").forEach(function (el) {
      // looked up now, so a script loaded after this one may have replaced it
      window.AILounge.watchGeneration(el);
    });
  }

  // Deferred scripts run while readyState is "interactive", before DOMContentLoaded: waiting
  // for it lets a script loaded after this one (live.js) replace watchGeneration first.
  var started = false;
  function start() {
    if (started) return;
    started = true;
    init();
  }
  if (document.readyState === "complete") start();
  else {
    document.addEventListener("DOMContentLoaded", start);
    window.addEventListener("load", start);
  }
})();
