// The menu page: the same session flow over plain HTTP only (GET/POST
// /v1/sessions/{id}/menu), for clients that cannot hold a socket. Each choice is one POST;
// after consent the page polls GET until the session ends.

import {
  $, el, t, lang, tagLanguage, translatePage, api, sessionFromAddress, confirmationCard,
  answerBlock, Timeline, TERMINAL, OPEN, HELD, stickToBottom, keepFocus,
} from "./common.js";

const POLL_FIRST_MS = 1000;
const POLL_CAP_MS = 10000;
/** After a confirmation runs out, when to ask the server what became of it. */
const AFTER_EXPIRY_MS = 1500;

translatePage();

const ui = {
  log: $("#log"),
  scroller: $("#scroller"),
  current: $("#current"),
  notice: $("#notice"),
  restart: $("#restart"),
};
const timeline = new Timeline($("#timeline"), $("#state-line"));
const follow = stickToBottom(ui.scroller);

const page = {
  session: null,
  lastSeq: 0,
  state: null,
  card: null,
  block: null,
  promptLogged: null, // the menu whose prompt is already in the log
  pollTimer: null,
  pollDelay: POLL_FIRST_MS,
  busy: false,
};

/** Adds to the log; entries drawn from a session frame carry its seq. */
function append(node, seq) {
  ui.log.append(el("li", { class: "entry", "data-seq": seq }, node));
  follow();
  return node;
}

function say(role, text, seq) {
  const label = role === "shopper" ? t("you") : t("agent");
  return append(tagLanguage(el("p", { class: `msg ${role}` },
    el("span", { class: "visually-hidden", text: `${label}: ` }), text), text), seq);
}

function showError(code, message) {
  append(el("p", { class: "msg error" },
    el("strong", { text: `${t("errorLabel")}: ` }), message,
    code ? el("code", { class: "code", text: code }) : null));
}

function showNotice(text) {
  ui.notice.textContent = text;
  ui.notice.hidden = false;
}

function menuPath() {
  return `/v1/sessions/${encodeURIComponent(page.session.session_id)}/menu`;
}

const bearer = () => page.session.client_token;

// ---- steps ----------------------------------------------------------------------------------

/** Sends one client frame; answers with the frames it produced and the view after it. */
async function step(frame) {
  if (page.busy) return false;
  page.busy = true;
  clearTimeout(page.pollTimer);
  const answer = await api("POST", menuPath(), { bearer: bearer(), body: frame });
  page.busy = false;
  if (!answer.ok) {
    showError(answer.body.error.code, answer.body.error.message);
    if (page.card?.state === "sending") page.card.set("open");
    page.block?.reopen();
    schedulePoll();
    return false;
  }
  show(answer.body, answer.body.frames || []);
  return true;
}

async function refresh() {
  const answer = await api("GET", menuPath(), { bearer: bearer() });
  if (!answer.ok) {
    if (answer.status === 0) schedulePoll(); // the network blinked: keep trying
    else showError(answer.body.error.code, answer.body.error.message);
    return;
  }
  show(answer.body, []);
}

/** Applies what the server said: new frames into the log, then the current view. */
function show(view, frames) {
  for (const frame of frames) {
    if (!Number.isInteger(frame.seq) || frame.seq <= page.lastSeq) continue;
    page.lastSeq = frame.seq;
    if (frame.type === "agent_message") say("agent", frame.text, frame.seq);
    else if (frame.type === "clarify") say("agent", frame.question, frame.seq);
    else if (frame.type === "error") showError(frame.code, frame.message);
    else if (frame.type === "status") timeline.update(frame.state, frame.reason);
    // menu and confirmation_required are drawn from the view below
  }
  page.lastSeq = Math.max(page.lastSeq, view.last_seq || 0);
  const moved = view.state !== page.state;
  page.state = view.state;
  timeline.update(view.state);
  draw(view);
  follow();
  if (moved) page.pollDelay = POLL_FIRST_MS;
  schedulePoll();
}

function draw(view) {
  if (view.confirmation) {
    if (page.card?.token !== view.confirmation.token) {
      retireCard("replaced");
      page.block = null;
      const card = confirmationCard(view.confirmation, {
        onConfirm: async (token) => {
          if (await step({ type: "confirm", token })) return;
          if (card.state === "sending") card.set("open");
        },
        onCancel: () => step({ type: "cancel" }),
        onExpire: () => setTimeout(refresh, AFTER_EXPIRY_MS),
      });
      page.card = card;
      ui.current.replaceChildren(card.node);
      keepFocus(card.node.querySelector(".summary"));
    }
    return;
  }
  retireCard(cardOutcome(view.state));
  if (view.menu) {
    const menu = view.menu;
    const block = answerBlock(menu.prompt, menu.options || [], {
      accepts_value: menu.accepts_value === true,
      group: "optionsLabel",
      onPick: (option) => choose(menu.prompt, option.label, { type: "menu_select", option_id: option.id }),
      onValue: (value) => choose(menu.prompt, value, { type: "menu_select", option_id: "custom", value }),
    });
    page.block = block;
    ui.current.replaceChildren(block.node);
    keepFocus(block.node);
    return;
  }
  page.block = null;
  const closing = TERMINAL.has(view.state)
    ? t(`final_${view.state}`)
    : OPEN.has(view.state) ? "" : t("waiting_after_confirm");
  ui.current.replaceChildren(
    closing ? el("p", { class: "msg agent final", text: closing }) : "",
    HELD.has(view.state) ? withdrawButton() : "",
  );
  keepFocus(ui.current);
  ui.restart.hidden = !TERMINAL.has(view.state);
}

/** While the payment is held (risk check, review) the shopper may withdraw their consent. */
function withdrawButton() {
  const button = el("button", {
    type: "button", class: "secondary", "data-action": "withdraw", text: t("withdraw"),
  });
  button.addEventListener("click", async () => {
    button.disabled = true;
    if (!(await step({ type: "cancel" }))) button.disabled = false;
  });
  return el("p", { class: "withdraw" }, el("span", { text: t("withdrawHint") }), button);
}

/** What became of the card once the session moved on from it. */
function cardOutcome(state) {
  if (state === "cancelled") return "cancelled";
  if (state === "expired") return "expired";
  if (OPEN.has(state)) return "replaced";
  return "confirmed";
}

/** Moves the current card into the log as a record of what was shown. */
function retireCard(outcome) {
  const card = page.card;
  if (!card) return;
  page.card = null;
  if (card.state === "open" || card.state === "sending") card.set(outcome);
  append(card.node);
}

/** The shopper picked something in the current menu: record it and send it. */
function choose(prompt, shown, frame) {
  if (page.busy) return false;
  if (page.promptLogged !== page.block) {
    say("agent", prompt); // once per menu, even when an answer is refused and retried
    page.promptLogged = page.block;
  }
  say("shopper", shown);
  step(frame);
  return true;
}

// ---- polling --------------------------------------------------------------------------------

/** While the session is past consent but not finished, asks again with growing pauses. */
function schedulePoll() {
  clearTimeout(page.pollTimer);
  if (!page.state || OPEN.has(page.state) || TERMINAL.has(page.state)) return;
  page.pollTimer = setTimeout(refresh, page.pollDelay);
  page.pollDelay = Math.min(POLL_CAP_MS, Math.round(page.pollDelay * 1.5));
}

// ---- start --------------------------------------------------------------------------------

async function start() {
  ui.current.replaceChildren(el("p", { class: "loading", text: t("loading") }));
  const handed = sessionFromAddress();
  if (handed) {
    page.session = handed;
  } else {
    const opened = await api("POST", "/v1/demo/sessions", { body: { channel: "menu", lang } });
    if (!opened.ok) {
      ui.current.replaceChildren();
      showNotice(opened.status === 404 ? t("noDemo") : t("startFailed", { m: opened.body.error.message }));
      return;
    }
    page.session = opened.body;
  }
  document.body.dataset.session = page.session.session_id;
  await refresh();
}

ui.restart.addEventListener("click", () => location.assign(location.pathname + location.search));

/** Hooks for the browser tests. */
window.__countersign = {
  session: () => page.session && { ...page.session },
  state: () => page.state,
  lastSeq: () => page.lastSeq,
};

start();
