// The countersign page: where a shopper confirms or cancels what an assistant proposed for
// them through MCP. The link's secret arrives in the address's fragment (never sent to a
// server by the browser, never in a Referer); it is moved to this tab's storage and sent as
// the bearer of GET/POST /v1/countersign, which open this one session and nothing else.

import {
  $, el, t, translatePage, api, confirmationCard, Timeline, TERMINAL, OPEN, keepFocus,
} from "./common.js";

const POLL_FIRST_MS = 1000;
const POLL_CAP_MS = 10000;
const AFTER_EXPIRY_MS = 1500;
const STORED = "countersign-link";

translatePage();

const ui = { log: $("#log"), current: $("#current"), notice: $("#notice") };
const timeline = new Timeline($("#timeline"), $("#state-line"));
const page = { link: null, state: null, card: null, pollTimer: null, pollDelay: POLL_FIRST_MS, busy: false };

/** The link's secret: from the fragment (then out of the address bar), or this tab's store. */
function linkFromAddress() {
  const fragment = location.hash.slice(1);
  if (fragment.startsWith("csl_")) {
    sessionStorage.setItem(STORED, fragment);
    history.replaceState(null, "", location.pathname + location.search);
  }
  return sessionStorage.getItem(STORED);
}

function showNotice(text) {
  ui.notice.textContent = text;
  ui.notice.hidden = false;
}

function showError(code, message) {
  ui.log.append(el("li", { class: "entry" }, el("p", { class: "msg error" },
    el("strong", { text: `${t("errorLabel")}: ` }), message,
    code ? el("code", { class: "code", text: code }) : null)));
}

async function send(body) {
  if (page.busy) return false;
  page.busy = true;
  clearTimeout(page.pollTimer);
  const answer = await api("POST", "/v1/countersign", { bearer: page.link, body });
  page.busy = false;
  if (!answer.ok) {
    showError(answer.body.error.code, answer.body.error.message);
    schedulePoll();
    return false;
  }
  show(answer.body);
  return true;
}

async function refresh() {
  const answer = await api("GET", "/v1/countersign", { bearer: page.link });
  if (!answer.ok) {
    if (answer.status === 0) schedulePoll();
    else if (answer.status === 404 || answer.status === 410 || answer.status === 401) {
      ui.current.replaceChildren();
      showNotice(t("linkUnknown"));
    } else showError(answer.body.error.code, answer.body.error.message);
    return;
  }
  show(answer.body);
}

function show(view) {
  const moved = view.state !== page.state;
  page.state = view.state;
  document.body.dataset.state = view.state;
  timeline.update(view.state, view.reason);
  if (view.confirmation) {
    if (page.card?.token !== view.confirmation.token) {
      const card = confirmationCard(view.confirmation, {
        onConfirm: async (token) => {
          if (!(await send({ type: "confirm", token })) && card.state === "sending") card.set("open");
        },
        onCancel: () => send({ type: "cancel" }),
        onExpire: () => setTimeout(refresh, AFTER_EXPIRY_MS),
      });
      page.card = card;
      ui.current.replaceChildren(card.node);
      keepFocus(card.node.querySelector(".summary"));
    }
  } else {
    if (page.card && (page.card.state === "open" || page.card.state === "sending")) {
      page.card.set(view.state === "cancelled" ? "cancelled" : view.state === "expired" ? "expired" : "confirmed");
    }
    const closing = TERMINAL.has(view.state) ? t(`final_${view.state}`) : OPEN.has(view.state) ? "" : t("waiting_after_confirm");
    const nodes = [];
    if (page.card) nodes.push(page.card.node);
    if (closing) nodes.push(el("p", { class: "msg agent final", text: closing }));
    ui.current.replaceChildren(...nodes);
  }
  if (moved) page.pollDelay = POLL_FIRST_MS;
  schedulePoll();
}

/** While the session is past consent but not finished, asks again with growing pauses. */
function schedulePoll() {
  clearTimeout(page.pollTimer);
  if (!page.state || OPEN.has(page.state) || TERMINAL.has(page.state)) return;
  page.pollTimer = setTimeout(refresh, page.pollDelay);
  page.pollDelay = Math.min(POLL_CAP_MS, Math.round(page.pollDelay * 1.5));
}

async function start() {
  page.link = linkFromAddress();
  if (!page.link) {
    showNotice(t("linkMissing"));
    return;
  }
  ui.current.replaceChildren(el("p", { class: "loading", text: t("loading") }));
  await refresh();
}

/** Hooks for the browser tests. */
window.__countersign = { state: () => page.state };

start();
