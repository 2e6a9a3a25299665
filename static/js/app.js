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
      var note = form.querySelector("[data-image-note]");
      if (note) {
        note.textContent = "Chosen: " + file.name;
        note.hidden = false;
      }
    });
  }

  /* The drop zone: the file input inside stays the keyboard and screen-reader path; dropping
   * a file anywhere on the zone puts it into that input. */
  function initDropzone(zone) {
    var input = zone.querySelector('input[type="file"]');
    if (!input) return;
    ["dragenter", "dragover"].forEach(function (name) {
      zone.addEventListener(name, function (event) {
        event.preventDefault();
        zone.classList.add("dropzone--over");
      });
    });
    ["dragleave", "dragend"].forEach(function (name) {
      zone.addEventListener(name, function () {
        zone.classList.remove("dropzone--over");
      });
    });
    zone.addEventListener("drop", function (event) {
      event.preventDefault();
      zone.classList.remove("dropzone--over");
      var files = event.dataTransfer && event.dataTransfer.files;
      if (!files || !files.length) return;
      try {
        input.files = files;
      } catch (e) {
        return;
      }
      input.dispatchEvent(new Event("change", { bubbles: true }));
    });
  }

  /* Seed: the dice rolls one; "Lock" keeps it (per kind, in this browser) for the next visit. */
  function initSeed(form) {
    var input = form.elements.seed;
    var dice = form.querySelector("[data-seed-dice]");
    var lock = form.querySelector("[data-seed-lock]");
    if (!input) return;
    var key = "ailounge.seed." + form.getAttribute("data-create-form");
    var store = null;
    try {
      store = window.localStorage;
    } catch (e) {
      store = null;
    }
    var max = parseInt(input.getAttribute("max"), 10) || 4294967295;
    function roll() {
      var value = Math.floor(Math.random() * (max + 1));
      if (window.crypto && window.crypto.getRandomValues) {
        value = window.crypto.getRandomValues(new Uint32Array(1))[0] % (max + 1);
      }
      input.value = String(value);
      input.dispatchEvent(new Event("input", { bubbles: true }));
    }
    function remember() {
      if (!store) return;
      if (lock && lock.checked && input.value !== "") store.setItem(key, input.value);
      else store.removeItem(key);
    }
    if (dice) dice.addEventListener("click", roll);
    if (lock) {
      var saved = store ? store.getItem(key) : null;
      if (saved !== null) {
        lock.checked = true;
        if (input.value === "") input.value = saved; // a reused job's own seed wins
      }
      lock.addEventListener("change", function () {
        if (lock.checked && input.value === "") roll();
        remember();
      });
      input.addEventListener("input", remember);
    }
  }

  /* Frames ÷ fps: how long the clip will be. */
  function initDuration(form) {
    var target = form.querySelector("[data-duration]");
    var frames = form.elements.num_frames;
    var fps = form.elements.fps;
    if (!target || !frames || !fps) return;
    function number(input) {
      var value = parseFloat(input.value || input.getAttribute("placeholder"));
      return isFinite(value) ? value : NaN;
    }
    function update() {
      var seconds = number(frames) / number(fps);
      target.textContent = isFinite(seconds) && seconds > 0
        ? "Duration ≈ " + seconds.toFixed(1) + " s (" + number(frames) + " frames at " + number(fps) + " fps)"
        : "";
    }
    frames.addEventListener("input", update);
    fps.addEventListener("input", update);
    update();
  }

  function personaMeta() {
    var node = document.getElementById("persona-meta");
    if (!node) return {};
    try {
      return JSON.parse(node.textContent) || {};
    } catch (e) {
      return {};
    }
  }

  /* A persona with a reference image can stand in for the upload. */
  function initPersona(form) {
    var select = form.elements.persona;
    var input = form.querySelector('input[type="file"]');
    if (!select || !input) return;
    var meta = personaMeta();
    var note = form.querySelector("[data-image-note]");
    var reused = form.elements.reuse;
    function update() {
      var chosen = meta[select.value];
      var stand_in = (chosen && chosen.reference_image) || !!reused;
      input.required = !stand_in;
      if (note && chosen && chosen.reference_image && !(input.files && input.files.length)) {
        note.textContent = "Without a file, the video starts from the persona's reference image.";
        note.hidden = false;
      }
    }
    select.addEventListener("change", update);
    update();
  }

  var PARAM_NAMES = [
    "num_frames",
    "fps",
    "seed",
    "motion_strength",
    "num_inference_steps",
    "guidance_scale",
    "max_guidance_scale",
  ];

  function quoteQuery(form) {
    var query = new URLSearchParams({ kind: form.getAttribute("data-create-form") });
    var persona = form.elements.persona;
    var chosen = persona && persona.value ? personaMeta()[persona.value] : null;
    var defaults = (chosen && chosen.defaults) || {};
    PARAM_NAMES.forEach(function (name) {
      var input = form.elements[name];
      if (input && input.value !== "") query.set(name, input.value);
      else if (input && defaults[name] !== undefined && defaults[name] !== null) {
        query.set(name, String(defaults[name])); // the persona fills what the form leaves unset
      }
    });
    var size = form.elements.size;
    if (size && size.value) {
      var parts = size.value.split("x");
      query.set("width", parts[0]);
      query.set("height", parts[1]);
    }
    return query;
  }

  function plural(n, word) {
    return n + " " + word + (n === 1 ? "" : "s");
  }

  function engineLabels() {
    var node = document.getElementById("engine-labels");
    if (!node) return {};
    try {
      return JSON.parse(node.textContent) || {};
    } catch (e) {
      return {};
    }
  }

  /* The Generate button says the price and the engine that will run it:
     "Generate · 12 credits · procedural engine (CPU)". `engine` is the quote's; without one
     (an error) the button keeps the engine it showed. */
  function paintQuote(form, credits, problem, engine) {
    var area = form.querySelector("[data-submit-area]");
    if (!area) return;
    var balance = parseInt(area.getAttribute("data-balance"), 10) || 0;
    var button = area.querySelector("[data-generate]");
    var buy = area.querySelector("[data-buy-credits]");
    var line = area.querySelector("[data-quote]");
    var short = typeof credits === "number" && credits > balance;
    if (button) {
      if (engine) button.setAttribute("data-engine", engine);
      var shown = button.getAttribute("data-engine");
      var label = shown ? engineLabels()[shown] || shown + " engine" : "";
      button.textContent =
        "Generate" +
        (typeof credits === "number" ? " · " + plural(credits, "credit") : "") +
        (label ? " · " + label : "");
      button.disabled = short;
      if (typeof credits === "number") button.setAttribute("data-credits", String(credits));
      else button.removeAttribute("data-credits");
    }
    if (buy) buy.hidden = !short;
    if (line) {
      if (problem) line.textContent = problem;
      else if (short) {
        line.textContent =
          "Not enough credits: this video costs " + credits + ", you have " + balance + ".";
      } else {
        line.textContent =
          "The price follows your settings; it is what you will be charged. You have " +
          plural(balance, "credit") + ".";
      }
      line.classList.toggle("quote--short", short || !!problem);
    }
  }

  AILounge.paintQuote = paintQuote; // storyboard.js prices its editor the same way

  function initQuote(form) {
    var url = form.getAttribute("data-quote-url");
    if (!url || !window.fetch) return;
    var timer = null;
    var latest = 0;
    function refresh() {
      var ticket = ++latest;
      form.setAttribute("data-quote-state", "loading");
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
          if (result.ok) paintQuote(form, result.body.credits, null, result.body.engine);
          else paintQuote(form, null, result.body.detail || "Check the options.");
          form.setAttribute("data-quote-state", "ready");
        })
        .catch(function () {
          /* the price is a hint; the server prices the real request */
          if (ticket === latest) form.setAttribute("data-quote-state", "ready");
        });
    }
    function schedule(event) {
      var target = event.target;
      if (target.type === "file" || target.tagName === "TEXTAREA" || target.type === "checkbox") {
        return;
      }
      clearTimeout(timer);
      timer = setTimeout(refresh, 250);
    }
    form.addEventListener("input", schedule);
    form.addEventListener("change", schedule);
    refresh(); // the server's label priced the defaults; a persona or a restored form may differ
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

  /* "Cancel all pending": say so at once; the server answers with the refund. */
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.hasAttribute || !form.hasAttribute("data-cancel-pending")) return;
    var button = form.querySelector('button[type="submit"]');
    if (!button) return;
    window.setTimeout(function () {
      button.disabled = true;
      button.setAttribute("data-label", button.textContent);
      button.textContent = "Canceling…";
    }, 0);
  });

  window.addEventListener("pageshow", function (event) {
    if (!event.persisted) return; // restored from the back/forward cache: re-arm the buttons
    document.querySelectorAll("button[data-label]").forEach(function (button) {
      button.disabled = false;
      button.textContent = button.getAttribute("data-label");
    });
  });

  /* --- copy buttons ([data-copy="text"]) --------------------------------------------------- */

  function initCopy(button) {
    var label = button.textContent;
    function done(ok) {
      button.textContent = ok ? "Copied" : "Copy failed";
      window.setTimeout(function () {
        button.textContent = label;
      }, 1500);
    }
    function fallback(text) {
      var area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.className = "sr-only";
      document.body.appendChild(area);
      area.select();
      var ok = false;
      try {
        ok = document.execCommand("copy");
      } catch (e) {
        ok = false;
      }
      area.remove();
      return ok;
    }
    button.addEventListener("click", function () {
      var text = button.getAttribute("data-copy");
      if (navigator.clipboard && navigator.clipboard.writeText) {
        navigator.clipboard.writeText(text).then(
          function () {
            done(true);
          },
          function () {
            done(fallback(text));
          }
        );
      } else done(fallback(text));
    });
  }

  function initTokenToggle(button) {
    var input = document.getElementById(button.getAttribute("aria-controls"));
    if (!input) return;
    button.addEventListener("click", function () {
      var show = input.type === "password";
      input.type = show ? "text" : "password";
      button.textContent = show ? "Hide" : "Show";
      button.setAttribute("aria-pressed", show ? "true" : "false");
    });
  }

  /* --- progress in the tab title while the tab is hidden ------------------------------------ */

  var baseTitle = document.title;
  var titlePrefix = "";

  function paintTitle() {
    document.title = document.hidden && titlePrefix ? titlePrefix + " · " + baseTitle : baseTitle;
  }

  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) titlePrefix = "";
    paintTitle();
  });

  function titleFor(data) {
    if (data.status === "succeeded") return "✓ Done";
    if (data.status === "failed") return "✗ Failed";
    if (data.status === "canceled") return "Canceled";
    if (data.status === "queued") return data.queue_position ? "Queued #" + data.queue_position : "Queued";
    if (typeof data.progress === "number") return Math.round(data.progress * 100) + "%";
    return titlePrefix;
  }

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

  /* A card in a list (jobs page): show the poster once the job is done. */
  function mountThumbnail(el, data) {
    var thumb = el.querySelector(".job-card__thumb");
    if (!thumb || !data.thumbnail_url || thumb.querySelector("img")) return;
    var img = document.createElement("img");
    img.alt = "";
    img.loading = "lazy";
    img.decoding = "async";
    img.src = data.thumbnail_url;
    thumb.replaceChildren(img);
  }

  /* The job page once its job ended: the tab title says "Video", not "Making", and the
     "queued"/"started" banner from the redirect goes (the page itself now says how it ended). */
  function finishPage(el) {
    if (!el.hasAttribute("data-title-progress")) return; // a card in a list, not the job page
    baseTitle = baseTitle.replace(/^Making: /, "Video: ");
    titlePrefix = document.hidden ? titlePrefix : "";
    paintTitle();
    var box = document.querySelector(".messages");
    if (!box) return;
    box.querySelectorAll('[data-message-level="success"]').forEach(function (node) {
      node.remove();
    });
    if (!box.children.length) box.remove();
  }

  function finish(el, data) {
    if (el.hasAttribute("data-finished")) return;
    el.setAttribute("data-finished", "");
    finishPage(el);
    el.removeAttribute("data-generation-active");
    var progress = el.querySelector("[data-progress]");
    if (progress) progress.hidden = true;
    var cancel = el.querySelector("[data-cancel-form]");
    if (cancel) cancel.remove();
    // Actions sent hidden for an end not reached yet (Retry, Extend): show the matching ones.
    el.querySelectorAll("[data-show-when]").forEach(function (node) {
      node.hidden = node.getAttribute("data-show-when").split(" ").indexOf(data.status) === -1;
    });
    var announce = el.querySelector("[data-announce]");

    if (data.status === "succeeded" && data.video_url) {
      mountVideo(el, data);
      mountThumbnail(el, data);
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
        canceled
          ? data.error || "Your credits were refunded."
          : (data.error || "Something went wrong.") +
              (/refund/i.test(data.error || "") ? "" : " Your credits were refunded.")
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
    if (el.hasAttribute("data-title-progress") && (data.status || typeof data.progress === "number")) {
      titlePrefix = titleFor({
        status: data.status || el.getAttribute("data-status"),
        progress: data.progress,
        queue_position: data.queue_position,
      });
      paintTitle();
    }
    if (TERMINAL.indexOf(data.status) !== -1) finish(el, data);
    if (AILounge.onGeneration) AILounge.onGeneration(el, data); // storyboard.js: the scenes
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

  /* --- the menu button (narrow screens) ----------------------------------------------------
     Without JavaScript the button stays hidden and the links wrap under the brand; with it,
     narrow screens fold the links behind the button (aria-expanded tells which). */
  function initNav(nav) {
    var toggle = nav.querySelector("[data-nav-toggle]");
    var links = document.getElementById(toggle && toggle.getAttribute("aria-controls"));
    if (!toggle || !links) return;
    function setOpen(open) {
      toggle.setAttribute("aria-expanded", open ? "true" : "false");
      nav.classList.toggle("nav--open", open);
    }
    toggle.hidden = false;
    nav.classList.add("nav--js");
    setOpen(false);
    toggle.addEventListener("click", function () {
      setOpen(toggle.getAttribute("aria-expanded") !== "true");
    });
    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && toggle.getAttribute("aria-expanded") === "true") {
        setOpen(false);
        toggle.focus();
      }
    });
  }

  /* --- the landing page's sample clip --------------------------------------------------------
   * Served with controls and no autoplay, so without this script (or with reduced motion
   * asked for) it plays only on request. Otherwise it loops silently with the controls hidden. */

  function initHeroClip(video) {
    var reduce = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)");
    if (reduce && reduce.matches) return;
    video.controls = false;
    video.muted = true;
    var playing = video.play();
    if (playing && playing.catch) {
      playing.catch(function () {
        video.controls = true; // the browser refused autoplay: let the visitor start it
      });
    }
  }

  function init() {
    document.querySelectorAll("[data-nav]").forEach(initNav);
    document.querySelectorAll("video[data-hero-clip]").forEach(initHeroClip);
    document.querySelectorAll("[data-tabs]").forEach(initTabs);
    document.querySelectorAll("[data-counter-for]").forEach(initCounter);
    document.querySelectorAll('.field--range input[type="range"]').forEach(initRange);
    document.querySelectorAll("[data-dropzone]").forEach(initDropzone);
    document.querySelectorAll("[data-copy]").forEach(initCopy);
    document.querySelectorAll("[data-token-toggle]").forEach(initTokenToggle);
    document.querySelectorAll("[data-create-form]").forEach(function (form) {
      initImagePreview(form);
      initSeed(form);
      initDuration(form);
      initPersona(form);
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
