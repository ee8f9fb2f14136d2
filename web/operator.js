// The operator's review queue: GET /v1/reviews and POST /v1/reviews/{session_id} with the
// merchant's API key. The key lives in this module's memory only — never in storage, the
// address or a cookie — so reloading the page forgets it.

import { $, el, t, addWords, tagLanguage, translatePage, api } from "./common.js";
import { OPERATOR_WORDS } from "./operator-words.js";

const REFRESH_MS = 10000;
/** How long a first click on Decline waits for the second one. */
const DECLINE_ARM_MS = 4000;

addWords(OPERATOR_WORDS);
translatePage();

const ui = {
  form: $("#key-form"),
  key: $("#api-key"),
  reviewer: $("#reviewer"),
  forget: $("#forget-key"),
  queue: $("#queue"),
  refresh: $("#refresh"),
  status: $("#queue-status"),
  reviews: $("#reviews"),
  decided: $("#decided"),
  decidedTitle: $("#decided-title"),
  notice: $("#notice"),
};

let apiKey = null;
let refreshTimer = null;
let loading = false;

function notice(text) {
  ui.notice.textContent = text;
  ui.notice.hidden = !text;
}

ui.form.addEventListener("submit", async (e) => {
  e.preventDefault();
  const key = ui.key.value.trim();
  if (!key) return;
  apiKey = key;
  ui.key.value = ""; // out of the DOM as well
  ui.key.required = false;
  ui.key.placeholder = t("opKeySet");
  ui.forget.hidden = false;
  await load();
});

ui.forget.addEventListener("click", () => {
  apiKey = null;
  clearTimeout(refreshTimer);
  ui.key.required = true;
  ui.key.placeholder = "";
  ui.forget.hidden = true;
  ui.queue.hidden = true;
  ui.reviews.replaceChildren();
  notice("");
  ui.key.focus();
});

ui.refresh.addEventListener("click", () => load());

document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible" && apiKey) load();
});

async function load() {
  if (!apiKey || loading) return;
  loading = true;
  clearTimeout(refreshTimer);
  const answer = await api("GET", "/v1/reviews", { bearer: apiKey });
  loading = false;
  if (answer.status === 401) {
    apiKey = null;
    ui.queue.hidden = true;
    ui.forget.hidden = true;
    ui.key.required = true;
    ui.key.placeholder = "";
    notice(t("opKeyRefused"));
    ui.key.focus();
    return;
  }
  if (answer.status === 404) {
    notice(t("opNoQueue"));
    return;
  }
  if (!answer.ok) {
    notice(t("opLoadFailed", { m: answer.body.error.message }));
    schedule();
    return;
  }
  notice("");
  ui.queue.hidden = false;
  render(answer.body.reviews || []);
  schedule();
}

function schedule() {
  clearTimeout(refreshTimer);
  if (apiKey && document.visibilityState !== "hidden") refreshTimer = setTimeout(load, REFRESH_MS);
}

// ---- rendering ------------------------------------------------------------------------------

function describe(action) {
  const amount = action.amount ? `${action.amount.value} ${action.amount.currency}` : "";
  if (action.kind === "refund") return t("opRefund", { amount, order: action.order_id });
  if (action.kind === "transfer") return t("opTransfer", { amount, contact: action.contact_id });
  return `${action.kind} ${amount}`;
}

/** What the session's model calls cost so far, e.g. "0.0017 CNY (3 calls)". */
function modelCost(cost) {
  const n = cost?.model_calls ?? 0;
  if (!n) return t("opCostNone");
  const sums = (cost.model || []).map((c) => `${c.value} ${c.currency}`);
  if (!sums.length) return t("opCostUnpriced", { n });
  return t(n === 1 ? "opCostCall" : "opCostCalls", { cost: sums.join(" + "), n });
}

function waited(since) {
  const at = Date.parse(since);
  if (Number.isNaN(at)) return since || "";
  const minutes = Math.max(0, Math.round((Date.now() - at) / 60000));
  if (minutes < 1) return t("opUnderMinute");
  if (minutes < 90) return t("opMinutes", { n: minutes });
  return t("opHours", { n: Math.round(minutes / 60) });
}

function render(reviews) {
  const now = new Date().toLocaleTimeString();
  ui.status.textContent =
    reviews.length === 0
      ? t("opNothingAt", { t: now })
      : t("opWaitingAt", { n: reviews.length, t: now });
  // Keep cards being worked on (a typed note, an armed decline) and add or drop the rest.
  const wanted = new Set(reviews.map((r) => r.session_id));
  for (const item of [...ui.reviews.children]) {
    if (!wanted.has(item.dataset.session)) item.remove();
  }
  for (const review of reviews) {
    if (ui.reviews.querySelector(`[data-session="${CSS.escape(review.session_id)}"]`)) continue;
    ui.reviews.append(card(review));
  }
}

let cardCount = 0;

function card(review) {
  const n = ++cardCount;
  const action = review.action || {};
  const why = action.reason ?? action.note;
  const title = describe(action);
  const score = Number(review.score);
  const noteInput = el("input", { id: `note-${n}`, type: "text", maxlength: "500", autocomplete: "off" });
  const approve = el("button", { type: "button", class: "primary", "data-decision": "approve", text: t("opApprove") });
  const decline = el("button", { type: "button", class: "danger", "data-decision": "decline", text: t("opDecline") });
  const message = el("p", { class: "card-note", "aria-live": "polite" });
  const node = el(
    "li",
    { class: "review card", "data-session": review.session_id, "aria-labelledby": `review-${n}` },
    el("h3", { id: `review-${n}`, text: title }),
    why ? tagLanguage(el("p", { class: "why", text: why }), why) : null,
    el(
      "dl",
      { class: "facts" },
      el("div", {}, el("dt", { text: t("opScore") }),
        el("dd", {},
          el("meter", { min: "0", max: "1", low: "0.5", high: "0.8", optimum: "0",
            value: Number.isFinite(score) ? String(score) : "0", "aria-label": t("opScore") }),
          ` ${Number.isFinite(score) ? score.toFixed(2) : "?"}`)),
      el("div", {}, el("dt", { text: t("opWaited") }),
        el("dd", {}, el("time", { datetime: review.since, title: review.since, text: waited(review.since) }))),
      el("div", {}, el("dt", { text: t("opShopper") }), el("dd", { text: review.user_id })),
      el("div", {}, el("dt", { text: t("opModelCost") }),
        el("dd", { class: "model-cost", text: modelCost(review.cost) })),
      el("div", {}, el("dt", { text: t("opSession") }), el("dd", {}, el("code", { text: review.session_id }))),
    ),
    el("div", { class: "codes-block" },
      el("p", { class: "codes-title", id: `codes-${n}`, text: t("opRules") }),
      el("ul", { class: "codes", "aria-labelledby": `codes-${n}` },
        (review.codes || []).map((code) => el("li", {}, el("code", { text: code }))))),
    el("div", { class: "field" }, el("label", { for: `note-${n}`, text: t("opNote") }), noteInput),
    el("div", { class: "actions" }, approve, decline),
    message,
  );

  let armed = null;
  const disarm = () => {
    clearTimeout(armed);
    armed = null;
    decline.textContent = t("opDecline");
    decline.classList.remove("armed");
    message.textContent = "";
  };
  const buttons = [approve, decline];
  const decide = async (decision) => {
    const reviewer = ui.reviewer.value.trim();
    if (!reviewer) {
      message.textContent = t("opNameFirst");
      ui.reviewer.focus();
      return;
    }
    buttons.forEach((b) => (b.disabled = true));
    message.textContent = t(decision === "approve" ? "opApproving" : "opDeclining");
    const note = noteInput.value.trim();
    const body = { decision, reviewer, ...(note ? { note } : {}) };
    const answer = await api("POST", `/v1/reviews/${encodeURIComponent(review.session_id)}`, {
      bearer: apiKey,
      body,
    });
    if (answer.ok) {
      done(node, t(decision === "approve" ? "opApproved" : "opDeclined", { title, state: answer.body.state }));
      return;
    }
    if (answer.body.error.code === "not_in_review") {
      done(node, t("opMovedOn", { title }));
      return;
    }
    buttons.forEach((b) => (b.disabled = false));
    message.textContent = t("opNotDone", { m: answer.body.error.message });
  };
  approve.addEventListener("click", () => decide("approve"));
  decline.addEventListener("click", () => {
    if (!armed) {
      decline.textContent = t("opConfirmDecline");
      decline.classList.add("armed");
      message.textContent = t("opArmed");
      armed = setTimeout(disarm, DECLINE_ARM_MS);
      return;
    }
    disarm();
    decide("decline");
  });
  return node;
}

/** Takes a decided case out of the queue and records it below. */
function done(node, text) {
  const next = node.nextElementSibling || node.previousElementSibling;
  node.remove();
  ui.decided.prepend(el("li", { text }));
  ui.decidedTitle.hidden = false;
  const left = ui.reviews.children.length;
  ui.status.textContent = left === 0 ? t("opNothing") : t("opWaiting", { n: left });
  // Keep keyboard users in the list rather than on a removed button.
  (next?.querySelector("button") || ui.reviews).focus();
}
