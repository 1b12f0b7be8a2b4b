// Trajectory browser of the swirl HTML report (inlined into report.html by swirl.report).
// The embedded data holds model outputs and retrieved passages, i.e. untrusted text, so
// every string reaches the page through textContent and never through innerHTML.
(function () {
  "use strict";

  // Errors are written onto <body> so a headless browser's DOM dump shows them.
  var errors = [];
  function recordError(message) {
    errors.push(String(message));
    document.body.setAttribute("data-errors", errors.join(" | "));
  }
  window.addEventListener("error", function (event) { recordError(event.message); });
  var consoleError = console.error;
  console.error = function () {
    recordError(Array.prototype.join.call(arguments, " "));
    consoleError.apply(console, arguments);
  };

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function badge(text, kind) {
    return el("span", "badge " + kind, text);
  }

  function labelled(className, label, content) {
    var node = el("div", className);
    node.appendChild(el("span", "label", label));
    if (typeof content === "string") node.appendChild(document.createTextNode(content));
    else node.appendChild(content);
    return node;
  }

  var data = JSON.parse(document.getElementById("swirl-data").textContent);
  var sourceSelect = document.getElementById("source-select");
  var search = document.getElementById("question-search");
  var list = document.getElementById("question-list");
  var view = document.getElementById("question-view");
  var note = document.getElementById("source-note");
  var state = { source: 0, question: 0, traj: null };

  function currentSource() { return data.sources[state.source]; }

  function questionSummary(question, strategy) {
    var trajectories = question.trajectories;
    var count = function (test) { return trajectories.filter(test).length; };
    var parts = [question.id, trajectories.length + (trajectories.length === 1 ? " trajectory" : " trajectories")];
    if (strategy) parts.push(count(function (t) { return t.kept === true; }) + " kept");
    if (trajectories.some(function (t) { return t.outcome; })) {
      parts.push(count(function (t) { return t.outcome && t.outcome.correct; }) + " correct");
    }
    return parts.join(" · ");
  }

  function renderList() {
    var source = currentSource();
    var needle = search.value.trim().toLowerCase();
    list.textContent = "";
    source.questions.forEach(function (question, index) {
      var haystack = (question.id + " " + question.question).toLowerCase();
      if (needle && haystack.indexOf(needle) < 0) return;
      var item = el("li", index === state.question ? "active" : "");
      item.appendChild(el("div", "q-text", question.question));
      item.appendChild(el("div", "q-meta", questionSummary(question, source.strategy)));
      item.addEventListener("click", function () { select(state.source, index, null); });
      list.appendChild(item);
    });
    var shown = source.questions.length;
    note.textContent = shown < source.total_questions
      ? "showing the first " + shown + " of " + source.total_questions + " questions"
      : shown + " questions";
    if (source.problem) note.textContent += " · " + source.problem;
  }

  function renderStep(step) {
    var verdict = step.verdict ? step.verdict.toLowerCase() : "none";
    var card = el("li", "step verdict-" + verdict);
    var head = el("div", "step-head");
    head.appendChild(el("span", "", "Step " + step.number));
    head.appendChild(el("span", "note", step.kind));
    if (step.verdict) head.appendChild(badge(step.verdict, verdict));
    if (step.score !== null && step.score !== undefined) head.appendChild(el("span", "score", "score " + Number(step.score).toFixed(2)));
    card.appendChild(head);

    // An invalid action is shown once, as written: its raw text already holds the thought.
    if (step.thought && step.kind !== "invalid") card.appendChild(labelled("step-thought", "thought", step.thought));
    if (step.kind === "tool") {
      var call = el("span", "");
      call.appendChild(document.createTextNode((step.tool || "?") + " "));
      call.appendChild(el("code", "", step.query || ""));
      card.appendChild(labelled("step-call", "tool call", call));
    } else if (step.kind === "answer") {
      card.appendChild(labelled("step-answer", "answer", el("code", "", step.answer || "")));
    } else {
      card.appendChild(labelled("step-problem", "invalid", step.problem || ""));
      card.appendChild(el("pre", "step-raw", step.action_text));
    }
    if (step.kind !== "invalid" && step.problem) card.appendChild(labelled("step-problem", "note", step.problem));
    if (step.observation !== null && step.observation !== undefined) {
      var observation = el("div", "step-observation");
      observation.appendChild(el("span", "label", "tool result"));
      observation.appendChild(el("pre", "", step.observation));
      card.appendChild(observation);
    }
    if (step.verdict) {
      var judge = "judge" + (step.judge ? " (" + step.judge + ")" : "");
      card.appendChild(labelled("step-verdict", judge, step.verdict + (step.rationale ? ": " + step.rationale : "")));
    }
    return card;
  }

  function renderTrajectory(trajectory, question) {
    var box = el("div", "trajectory" + (trajectory.id === state.traj ? " selected" : ""));
    box.setAttribute("data-traj", trajectory.id);
    var head = el("div", "traj-head");
    head.appendChild(el("span", "traj-id", trajectory.id));
    head.appendChild(el("span", "note", "sample " + trajectory.sample + " · " + trajectory.model));
    head.appendChild(badge(trajectory.termination, trajectory.termination === "answered" ? "neutral" : "bad"));
    if (trajectory.outcome) {
      head.appendChild(badge(trajectory.outcome.correct ? "correct" : "wrong", trajectory.outcome.correct ? "correct" : "wrong"));
    }
    if (trajectory.kept === true) head.appendChild(badge("kept", "kept"));
    else if (trajectory.kept === false) head.appendChild(badge("dropped", "dropped"));
    box.appendChild(head);

    var answer = trajectory.final_answer === null ? "(none)" : trajectory.final_answer;
    var answerLine = "final " + answer + "  ·  gold " + question.gold.join(" | ");
    if (trajectory.outcome) {
      answerLine += "  ·  EM " + Number(trajectory.outcome.exact_match).toFixed(2) + ", F1 " + Number(trajectory.outcome.f1).toFixed(2);
    }
    box.appendChild(labelled("traj-answer", "answer", answerLine));
    if (trajectory.why) box.appendChild(labelled("traj-why", trajectory.kept ? "kept because" : "dropped because", trajectory.why));
    else if (trajectory.kept === null && currentSource().strategy) box.appendChild(labelled("traj-why", "filter", "not judged yet"));
    if (trajectory.error) box.appendChild(labelled("traj-error", "error", trajectory.error));

    var steps = el("ol", "steps");
    trajectory.steps.forEach(function (step) { steps.appendChild(renderStep(step)); });
    box.appendChild(steps);
    return box;
  }

  function renderQuestion() {
    view.textContent = "";
    var question = currentSource().questions[state.question];
    if (!question) {
      view.appendChild(el("p", "missing", "no question selected"));
      return null;
    }
    var head = el("div", "question-head");
    head.appendChild(el("p", "q-title", question.question));
    head.appendChild(el("div", "note", question.id + " · " + question.type + " · gold: " + question.gold.join(" | ")));
    view.appendChild(head);
    var selected = null;
    question.trajectories.forEach(function (trajectory) {
      var box = renderTrajectory(trajectory, question);
      if (trajectory.id === state.traj) selected = box;
      view.appendChild(box);
    });
    return selected;
  }

  function writeHash() {
    var params = new URLSearchParams();
    params.set("source", currentSource().key);
    var question = currentSource().questions[state.question];
    if (question) params.set("q", question.id);
    if (state.traj) params.set("traj", state.traj);
    // Keeps the selection in a shareable link without adding history entries.
    history.replaceState(null, "", "#" + params.toString());
  }

  function select(sourceIndex, questionIndex, trajId, fromHash) {
    var sourceChanged = sourceIndex !== state.source;
    state = { source: sourceIndex, question: questionIndex, traj: trajId };
    sourceSelect.value = String(sourceIndex);
    if (sourceChanged || fromHash) search.value = "";
    renderList();
    var selected = renderQuestion();
    if (!fromHash) writeHash();
    if (selected && fromHash) selected.scrollIntoView({ block: "start" });
  }

  // Finds what a link like #traj=ID, #source=KEY&q=QID or #source=KEY&traj=ID points at.
  function fromHash() {
    var params = new URLSearchParams(location.hash.slice(1));
    var sourceKey = params.get("source"), questionId = params.get("q"), trajId = params.get("traj");
    if (!sourceKey && !questionId && !trajId) return false;
    for (var s = 0; s < data.sources.length; s++) {
      var source = data.sources[s];
      if (sourceKey && source.key !== sourceKey) continue;
      for (var q = 0; q < source.questions.length; q++) {
        var question = source.questions[q];
        if (questionId && question.id !== questionId) continue;
        var hit = !trajId || question.trajectories.some(function (t) { return t.id === trajId; });
        if (hit) {
          select(s, q, trajId, true);
          return true;
        }
      }
      if (sourceKey) {
        select(s, 0, null, true);
        return true;
      }
    }
    return false;
  }

  if (sourceSelect && data.sources.length) {
    data.sources.forEach(function (source, index) {
      var option = el("option", "", source.label + " (" + source.total_questions + ")");
      option.value = String(index);
      sourceSelect.appendChild(option);
    });
    sourceSelect.addEventListener("change", function () { select(Number(sourceSelect.value), 0, null); });
    search.addEventListener("input", renderList);
    window.addEventListener("hashchange", fromHash);
    state.source = -1;  // forces the first select() to treat the source as new
    if (!fromHash()) select(0, 0, null, true);
  }
  document.body.setAttribute("data-ready", "true");
})();
