/* AI Lounge: the storyboard editor (the Storyboard tab of /create/) and the per-scene list of a
 * storyboard's job page.
 *
 * Editor: the DOM is the truth. Each scene is a card cloned from <template data-scene-template>;
 * add / duplicate / delete, reorder by dragging the handle or with Move up / Move down (focus
 * follows the moved card, and a live region says where it went). The draft (fields, scenes and
 * their order; not the pictures, which a browser cannot keep) is saved to localStorage on every
 * change. The total duration follows docs/storyboards.md (plan_timeline): every non-cut
 * transition overlaps its two scenes by the transition length, clamped below half the shorter
 * scene, counted in whole frames of the quality preset's rate. The price comes from the quote
 * endpoint. On submit the cards become the `scenes` JSON and the pictures the scene_image_<i>
 * files of a normal form post, which the server checks with the API's own rules.
 *
 * Job page: on every live event of a storyboard (and once on load) the generation's JSON is
 * fetched again and each scene's chip, clip and error painted.
 */
(function () {
  "use strict";

  var AILounge = (window.AILounge = window.AILounge || {});
  var DRAFT_KEY = "ailounge.storyboard.draft";
  var STORY_MAX_SCENES = 5;

  function storage() {
    try {
      return window.localStorage;
    } catch (e) {
      return null;
    }
  }

  function number(value, fallback) {
    var n = parseFloat(value);
    return isFinite(n) ? n : fallback;
  }

  /* The frame-exact total of workers/storyboard/assemble.py plan_timeline. */
  function timelineSeconds(durations, transitions, transitionDuration, fps) {
    var frames = durations.map(function (d) {
      return Math.max(1, Math.round(d * fps));
    });
    var wanted = Math.round(transitionDuration * fps);
    var total = frames.reduce(function (a, b) {
      return a + b;
    }, 0);
    var overlapping = 0;
    transitions.forEach(function (transition, i) {
      var limit = Math.floor((Math.min(frames[i], frames[i + 1]) - 1) / 2);
      var overlap = transition === "cut" ? 0 : Math.max(0, Math.min(wanted, limit));
      if (overlap > 0) overlapping += 1;
      total -= overlap;
    });
    return { seconds: total / fps, frames: total, overlapping: overlapping };
  }
  AILounge.storyboardTimeline = timelineSeconds;

  /* About how many scenes the local splitter makes of a story: paragraphs, else sentences. */
  function storySceneCount(text) {
    var paragraphs = text.split(/\n\s*\n/).filter(function (p) {
      return p.trim();
    });
    var count = paragraphs.length;
    if (count <= 1) {
      count = (text.match(/[^.!?]+[.!?]*/g) || []).filter(function (s) {
        return s.trim();
      }).length;
    }
    return Math.max(1, Math.min(STORY_MAX_SCENES, count));
  }

  /* --- the editor ------------------------------------------------------------------------- */

  function initEditor(form) {
    var panel = form.closest('[role="tabpanel"]');
    var template = panel.querySelector("template[data-scene-template]");
    var list = form.querySelector("[data-scene-list]");
    var announce = form.querySelector("[data-scene-announce]");
    var addButton = form.querySelector("[data-scene-add]");
    var total = form.querySelector("[data-storyboard-total]");
    var maxScenes = parseInt(form.getAttribute("data-max-scenes"), 10) || 10;
    var store = storage();
    var counter = 0;
    var quoteTimer = null;
    var quoteTicket = 0;
    var dragging = null;

    form.hidden = false;

    function cards() {
      return Array.prototype.slice.call(list.querySelectorAll("[data-scene]"));
    }

    function source() {
      var checked = form.querySelector('input[name="source"]:checked');
      return checked ? checked.value : "scenes";
    }

    function sceneData(card) {
      var mode = card.querySelector("[data-scene-mode]:checked");
      var file = card.querySelector("[data-scene-image]");
      return {
        mode: mode ? mode.value : "prompt",
        prompt: card.querySelector("[data-scene-prompt]").value,
        duration: card.querySelector("[data-scene-duration]").value,
        transition: card.querySelector("[data-scene-transition]").value,
        hasFile: !!(file.files && file.files.length),
      };
    }

    function setMode(card, mode) {
      card.querySelectorAll("[data-scene-mode]").forEach(function (radio) {
        radio.checked = radio.value === mode;
      });
      card.querySelector("[data-scene-prompt-field]").hidden = mode === "image";
      card.querySelector("[data-scene-image-field]").hidden = mode !== "image";
    }

    function makeCard(data) {
      var card = template.content.firstElementChild.cloneNode(true);
      var id = "scene-" + ++counter;
      card.id = id;
      card.querySelectorAll("[data-for]").forEach(function (label) {
        var name = label.getAttribute("data-for");
        var control = label.parentNode.querySelector("input, textarea, select");
        control.id = id + "-" + name;
        label.setAttribute("for", control.id);
      });
      card.querySelectorAll("[data-scene-mode]").forEach(function (radio) {
        radio.name = id + "-mode";
      });
      data = data || {};
      card.querySelector("[data-scene-prompt]").value = data.prompt || "";
      card.querySelector("[data-scene-duration]").value = data.duration || "3";
      card.querySelector("[data-scene-transition]").value = data.transition || "";
      setMode(card, data.mode === "image" ? "image" : "prompt");
      if (data.mode === "image" && !data.file) {
        card.querySelector("[data-scene-image-note]").textContent =
          "Choose the picture again: a saved draft keeps everything but pictures.";
      }
      if (data.file) {
        // Duplicating a card with a picture: the copy gets the same file.
        try {
          var transfer = new DataTransfer();
          transfer.items.add(data.file);
          card.querySelector("[data-scene-image]").files = transfer.files;
          showPreview(card);
        } catch (e) {
          /* an old browser: the copy asks for its picture */
        }
      }
      bindCard(card);
      return card;
    }

    function showPreview(card) {
      var input = card.querySelector("[data-scene-image]");
      var preview = card.querySelector("[data-scene-preview]");
      var note = card.querySelector("[data-scene-image-note]");
      var file = input.files && input.files[0];
      if (preview.src && preview.src.indexOf("blob:") === 0) URL.revokeObjectURL(preview.src);
      if (!file) {
        preview.hidden = true;
        preview.removeAttribute("src");
        return;
      }
      preview.src = URL.createObjectURL(file);
      preview.alt = "Picture of this scene: " + file.name;
      preview.hidden = false;
      note.textContent = "Chosen: " + file.name;
    }

    function bindCard(card) {
      card.querySelectorAll("[data-scene-mode]").forEach(function (radio) {
        radio.addEventListener("change", function () {
          setMode(card, radio.value);
          changed();
        });
      });
      card.querySelector("[data-scene-image]").addEventListener("change", function () {
        showPreview(card);
        changed();
      });
      card.querySelectorAll("[data-scene-move]").forEach(function (button) {
        button.addEventListener("click", function () {
          move(card, button.getAttribute("data-scene-move"));
        });
      });
      card.querySelector("[data-scene-duplicate]").addEventListener("click", function () {
        if (cards().length >= maxScenes) return;
        var data = sceneData(card);
        var file = card.querySelector("[data-scene-image]");
        data.file = file.files && file.files[0];
        var copy = makeCard(data);
        card.after(copy);
        renumber();
        changed();
        focusFirst(copy);
        say("Scene " + (cards().indexOf(copy) + 1) + " added, a copy of scene " + (cards().indexOf(card) + 1) + ".");
      });
      card.querySelector("[data-scene-delete]").addEventListener("click", function () {
        var all = cards();
        if (all.length <= 1) return;
        var index = all.indexOf(card);
        card.remove();
        renumber();
        changed();
        var next = cards()[Math.min(index, cards().length - 1)];
        next.querySelector("[data-scene-delete]").focus();
        say("Scene " + (index + 1) + " deleted. " + cards().length + " scenes left.");
      });
      var handle = card.querySelector("[data-scene-handle]");
      handle.addEventListener("dragstart", function (event) {
        dragging = card;
        card.classList.add("scene-card--dragging");
        event.dataTransfer.effectAllowed = "move";
        try {
          event.dataTransfer.setData("text/plain", card.id);
          event.dataTransfer.setDragImage(card, 20, 20);
        } catch (e) {
          /* fine without */
        }
      });
      handle.addEventListener("dragend", function () {
        card.classList.remove("scene-card--dragging");
        if (dragging) {
          dragging = null;
          renumber();
          changed();
        }
      });
    }

    list.addEventListener("dragover", function (event) {
      if (!dragging) return;
      event.preventDefault();
      var target = event.target.closest ? event.target.closest("[data-scene]") : null;
      if (!target || target === dragging) return;
      var box = target.getBoundingClientRect();
      if (event.clientY < box.top + box.height / 2) target.before(dragging);
      else target.after(dragging);
    });
    list.addEventListener("drop", function (event) {
      if (!dragging) return;
      event.preventDefault();
      var moved = dragging;
      dragging = null;
      moved.classList.remove("scene-card--dragging");
      renumber();
      changed();
      say("Scene moved to position " + (cards().indexOf(moved) + 1) + " of " + cards().length + ".");
    });

    function focusFirst(card) {
      var target = card.querySelector("[data-scene-prompt-field]:not([hidden]) textarea") ||
        card.querySelector("[data-scene-image]");
      if (target) target.focus();
    }

    function say(text) {
      if (!announce) return;
      announce.textContent = "";
      window.setTimeout(function () {
        announce.textContent = text;
      }, 30);
    }

    function move(card, direction) {
      var all = cards();
      var index = all.indexOf(card);
      var to = direction === "up" ? index - 1 : index + 1;
      if (to < 0 || to >= all.length) return;
      if (direction === "up") all[to].before(card);
      else all[to].after(card);
      renumber();
      changed();
      var same = card.querySelector('[data-scene-move="' + direction + '"]');
      var other = card.querySelector('[data-scene-move="' + (direction === "up" ? "down" : "up") + '"]');
      (same.disabled ? other : same).focus();
      say("Scene moved to position " + (to + 1) + " of " + all.length + ".");
    }

    function renumber() {
      var all = cards();
      all.forEach(function (card, i) {
        var n = i + 1;
        card.querySelector("[data-scene-title]").textContent = "Scene " + n;
        card.setAttribute("aria-label", "Scene " + n + " of " + all.length);
        var up = card.querySelector('[data-scene-move="up"]');
        var down = card.querySelector('[data-scene-move="down"]');
        up.disabled = i === 0;
        down.disabled = i === all.length - 1;
        up.setAttribute("aria-label", "Move scene " + n + " up");
        down.setAttribute("aria-label", "Move scene " + n + " down");
        card.querySelector("[data-scene-duplicate]").setAttribute("aria-label", "Duplicate scene " + n);
        card.querySelector("[data-scene-duplicate]").disabled = all.length >= maxScenes;
        var del = card.querySelector("[data-scene-delete]");
        del.setAttribute("aria-label", "Delete scene " + n);
        del.disabled = all.length <= 1;
        card.querySelector("[data-scene-transition-field]").hidden = i === all.length - 1;
      });
      addButton.disabled = all.length >= maxScenes;
    }

    /* --- draft ------------------------------------------------------------------------------ */

    function fieldsData() {
      var data = {};
      form.querySelectorAll("[data-draft]").forEach(function (input) {
        var name = input.getAttribute("data-draft");
        if (input.type === "radio") {
          if (input.checked) data[name] = input.value;
        } else if (input.type === "checkbox") data[name] = input.checked;
        else data[name] = input.value;
      });
      return data;
    }

    function save() {
      if (!store) return;
      var draft = fieldsData();
      draft.scenes = cards().map(function (card) {
        var data = sceneData(card);
        delete data.hasFile;
        return data;
      });
      try {
        store.setItem(DRAFT_KEY, JSON.stringify(draft));
      } catch (e) {
        /* full or blocked: the draft is a convenience */
      }
    }

    function restore(draft) {
      form.querySelectorAll("[data-draft]").forEach(function (input) {
        var name = input.getAttribute("data-draft");
        if (!(name in draft)) return;
        if (input.type === "radio") input.checked = input.value === draft[name];
        else if (input.type === "checkbox") input.checked = !!draft[name];
        else input.value = draft[name];
      });
      list.replaceChildren();
      var scenes = Array.isArray(draft.scenes) && draft.scenes.length ? draft.scenes : [{}];
      scenes.slice(0, maxScenes).forEach(function (scene) {
        list.append(makeCard(scene));
      });
    }

    function load() {
      var draft = null;
      if (store) {
        try {
          draft = JSON.parse(store.getItem(DRAFT_KEY) || "null");
        } catch (e) {
          draft = null;
        }
      }
      restore(draft && typeof draft === "object" ? draft : {});
    }

    /* --- totals and price --------------------------------------------------------------------- */

    function fps() {
      var option = form.elements.quality.selectedOptions[0];
      return parseInt(option && option.getAttribute("data-fps"), 10) || 30;
    }

    /* Each card's "Default" transition names the form's default. */
    function paintDefaults() {
      var chosen = form.elements.transition.selectedOptions[0];
      var text = "Default (" + (chosen ? chosen.textContent : "") + ")";
      list.querySelectorAll('[data-scene-transition] option[value=""]').forEach(function (option) {
        if (option.textContent !== text) option.textContent = text;
      });
    }

    function paintTotal() {
      paintDefaults();
      if (source() === "story") {
        var story = form.elements.story.value;
        var count = story.trim() ? storySceneCount(story) : 0;
        total.textContent = count
          ? "About " + count + " scene" + (count === 1 ? "" : "s") + " of " +
            number(form.elements.scene_duration.value, 3) + " s; the split decides the total."
          : "Write a story to split it into scenes.";
        return;
      }
      var scenes = cards().map(sceneData);
      var durations = scenes.map(function (s) {
        return Math.min(20, Math.max(0.5, number(s.duration, 3)));
      });
      var fallback = form.elements.transition.value;
      var transitions = scenes.slice(0, -1).map(function (s) {
        return s.transition || fallback;
      });
      var length = Math.min(2, Math.max(0, number(form.elements.transition_duration.value, 0.5)));
      var plan = timelineSeconds(durations, transitions, length, fps());
      var sum = durations.reduce(function (a, b) {
        return a + b;
      }, 0);
      var text = "Total " + plan.seconds.toFixed(2).replace(/\.?0+$/, "") + " s · " + scenes.length +
        " scene" + (scenes.length === 1 ? "" : "s") + " (" + sum.toFixed(1).replace(/\.0$/, "") + " s)";
      if (plan.overlapping) {
        text += " − " + plan.overlapping + " transition" + (plan.overlapping === 1 ? "" : "s") +
          " overlapping the scenes they join";
      }
      total.textContent = text + ".";
      total.setAttribute("data-seconds", String(plan.seconds));
    }

    function quoteQuery() {
      var query = new URLSearchParams({ kind: "storyboard" });
      query.set("chain", form.elements.chain.checked ? "true" : "false");
      // A persona's defaults are priced as at create.
      if (form.elements.persona && form.elements.persona.value) {
        query.set("persona", form.elements.persona.value);
      }
      if (source() === "story") {
        var story = form.elements.story.value;
        query.set("scene_count", String(storySceneCount(story)));
        query.set("duration", String(Math.min(20, Math.max(0.5, number(form.elements.scene_duration.value, 3)))));
        return query;
      }
      var scenes = cards().map(function (card) {
        var data = sceneData(card);
        var scene = { duration: number(data.duration, 3) };
        if (data.mode === "image") scene.image = true;
        // The price does not read the prompt: an empty one is priced as any prompt.
        else scene.prompt = data.prompt.trim() || "scene";
        return scene;
      });
      query.set("scenes", JSON.stringify(scenes));
      return query;
    }

    function refreshQuote() {
      var url = form.getAttribute("data-quote-url");
      if (!url || !window.fetch) return;
      var ticket = ++quoteTicket;
      form.setAttribute("data-quote-state", "loading");
      fetch(url + "?" + quoteQuery().toString(), {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      })
        .then(function (response) {
          return response.json().then(function (body) {
            return { ok: response.ok, body: body };
          });
        })
        .then(function (result) {
          if (ticket !== quoteTicket) return;
          if (result.ok) {
            AILounge.paintQuote(form, result.body.credits, null, result.body.engine);
            if (source() === "story") {
              var line = form.querySelector("[data-quote]");
              if (line && !line.classList.contains("quote--short")) {
                line.textContent = "Priced for the scenes your story should split into; the charge is for the scenes it makes.";
              }
            }
          } else AILounge.paintQuote(form, null, result.body.detail || "Check the scenes.");
          form.setAttribute("data-quote-state", "ready");
        })
        .catch(function () {
          if (ticket === quoteTicket) form.setAttribute("data-quote-state", "ready");
        });
    }

    function changed() {
      // The server's message was about the draft as it was sent: gone once it changes.
      var stale = form.querySelector("[data-storyboard-error]");
      if (stale) stale.remove();
      save();
      paintTotal();
      window.clearTimeout(quoteTimer);
      form.setAttribute("data-quote-state", "pending"); // tests wait for "ready"
      quoteTimer = window.setTimeout(refreshQuote, 250);
    }

    function showSource() {
      var chosen = source();
      form.querySelectorAll("[data-source-panel]").forEach(function (part) {
        part.hidden = part.getAttribute("data-source-panel") !== chosen;
      });
    }

    /* --- events ------------------------------------------------------------------------------- */

    form.addEventListener("input", function (event) {
      if (event.target.type === "file") return;
      changed();
    });
    form.addEventListener("change", function (event) {
      if (event.target.name === "source") showSource();
      if (event.target.type === "file") return;
      changed();
    });
    addButton.addEventListener("click", function () {
      if (cards().length >= maxScenes) return;
      var card = makeCard({});
      list.append(card);
      renumber();
      changed();
      focusFirst(card);
      say("Scene " + cards().length + " added.");
    });
    form.querySelector("[data-storyboard-reset]").addEventListener("click", function () {
      if (store) store.removeItem(DRAFT_KEY);
      form.reset();
      restore({});
      renumber();
      showSource();
      changed();
      say("The draft was cleared.");
    });

    form.addEventListener("submit", function (event) {
      var error = form.querySelector("[data-storyboard-error]");
      var problem = null;
      var scenes = [];
      var story = source() === "story";
      cards().forEach(function (card, i) {
        var data = sceneData(card);
        var input = card.querySelector("[data-scene-image]");
        var scene = { prompt: data.mode === "prompt" ? data.prompt : "", duration: number(data.duration, 3) };
        if (data.transition) scene.transition = data.transition;
        if (data.mode === "image") {
          if (!data.hasFile && !problem) {
            problem = { text: "Scene " + (i + 1) + ": choose a picture, or switch it to Prompt.", focus: input };
          }
          scene.image = true;
          input.name = story ? "" : "scene_image_" + i;
        } else input.name = "";
        if (!input.name) input.removeAttribute("name");
        scenes.push(scene);
      });
      form.elements.scenes.value = story ? "" : JSON.stringify(scenes);
      if (problem && !story) {
        event.preventDefault();
        if (!error) {
          error = document.createElement("div");
          error.className = "alert alert--error";
          error.setAttribute("role", "alert");
          error.setAttribute("data-storyboard-error", "");
          error.append(document.createElement("p"));
          form.querySelector("[data-scenes-json]").after(error);
        }
        error.firstElementChild.textContent = problem.text;
        problem.focus.focus();
        return;
      }
      var button = form.querySelector("button[type=submit]");
      window.setTimeout(function () {
        button.disabled = true;
        button.setAttribute("data-label", button.textContent);
        button.textContent = "Starting…";
      }, 0);
    });

    load();
    renumber();
    showSource();
    paintTotal();
    refreshQuote();
    form.setAttribute("data-ready", "");
  }

  /* --- the job page: scenes ------------------------------------------------------------------ */

  var STATUS_LABELS = {
    queued: "Queued",
    running: "Running",
    succeeded: "Done",
    failed: "Failed",
    canceled: "Canceled",
  };

  function paintScenes(el, data) {
    var list = el.querySelector("[data-scenes]");
    if (!list || !Array.isArray(data.scenes)) return;
    data.scenes.forEach(function (scene) {
      var row = list.querySelector('[data-scene-index="' + scene.index + '"]');
      if (!row) return;
      row.setAttribute("data-scene-status", scene.status);
      var chip = row.querySelector("[data-scene-chip]");
      if (chip) {
        chip.className = "chip chip--" + scene.status;
        if (chip.textContent !== (STATUS_LABELS[scene.status] || scene.status)) {
          chip.textContent = STATUS_LABELS[scene.status] || scene.status;
        }
      }
      var prompt = row.querySelector("[data-scene-prompt-text]");
      if (prompt && scene.prompt && !prompt.textContent) prompt.textContent = scene.prompt;
      var slot = row.querySelector("[data-scene-clip]");
      if (slot && scene.video_url && !slot.querySelector("video")) {
        var video = document.createElement("video");
        video.controls = true;
        video.muted = true;
        video.preload = "metadata";
        video.playsInline = true;
        video.setAttribute("playsinline", "");
        video.setAttribute("aria-label", "Clip of scene " + (scene.index + 1));
        video.src = scene.video_url;
        slot.replaceChildren(video);
        slot.hidden = false;
      }
      var error = row.querySelector("[data-scene-error]");
      if (error) {
        error.textContent = scene.error || "";
        error.hidden = !scene.error;
      }
    });
    if (data.status === "succeeded" && data.subtitles_url) {
      var video = el.querySelector('[data-slot="player"] video');
      if (video && !video.querySelector("track")) {
        var track = document.createElement("track");
        track.kind = "subtitles";
        track.label = "Narration";
        track.srclang = "en";
        track.default = true;
        track.src = data.subtitles_url;
        video.append(track);
      }
    }
    var rendered = el.getAttribute("data-rendered-status");
    if (data.status === "failed" && ["failed", "succeeded", "canceled"].indexOf(rendered) === -1) {
      // It failed while the page was open: the server's page brings the Retry scene buttons.
      if (!el.hasAttribute("data-reloaded")) {
        el.setAttribute("data-reloaded", "");
        window.setTimeout(function () {
          window.location.reload();
        }, 300);
      }
    }
  }

  function sceneWatcher(el) {
    var url = el.getAttribute("data-api-url");
    var busy = false;
    var again = false;
    var timer = null;
    function fetchNow() {
      if (busy) {
        again = true;
        return;
      }
      busy = true;
      fetch(url, { credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" } })
        .then(function (response) {
          return response.ok ? response.json() : null;
        })
        .then(function (data) {
          if (data) paintScenes(el, data);
        })
        .catch(function () {})
        .then(function () {
          busy = false;
          if (again) {
            again = false;
            schedule(400);
          }
        });
    }
    /* A throttle, not a debounce: steady progress events must not starve the refetch. */
    function schedule(delay) {
      if (timer !== null && delay > 0) return;
      window.clearTimeout(timer);
      timer = window.setTimeout(function () {
        timer = null;
        fetchNow();
      }, delay);
    }
    return schedule;
  }

  var chained = AILounge.onGeneration;
  /* app.js calls this after painting each snapshot or event on a job element. */
  AILounge.onGeneration = function (el, data) {
    if (chained) chained(el, data);
    var schedule = el.__sceneRefresh;
    if (!schedule) return;
    var terminal = ["succeeded", "failed", "canceled"].indexOf(data.status) !== -1;
    schedule(terminal ? 0 : 500);
  };

  function start() {
    document.querySelectorAll("[data-storyboard-form]").forEach(initEditor);
    document.querySelectorAll("[data-generation-id]").forEach(function (el) {
      if (!el.querySelector("[data-scenes]")) return;
      el.__sceneRefresh = sceneWatcher(el);
      el.__sceneRefresh(0); // a reload mid-job: paint the server's state at once
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
