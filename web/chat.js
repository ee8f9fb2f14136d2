// The chat page: one demo session over its WebSocket, `/v1/sessions/{id}/ws`: the shopper's
// messages go up as frames, and the agent's words, questions, card and status come down.
//
// Session frames carry seq 1, 2, 3…; they are applied strictly in that order, each once,
// whatever order they arrive in (a live frame can overtake a replayed one). After a dropped
// socket the page reconnects with capped exponential backoff and sends `resume {last_seq}`.

import {
  $, el, t, lang, tagLanguage, translatePage, api, sessionFromAddress, confirmationCard,
  answerBlock, Timeline, TERMINAL, OPEN, HELD, stickToBottom, keepFocus,
} from "./common.js";

const BACKOFF_FIRST_MS = 500;
const BACKOFF_CAP_MS = 15000;
/** How long a hole in the seq numbers may stay open before the page asks for a replay. */
const GAP_PATIENCE_MS = 2000;
const SESSION_FRAMES = new Set([
  "agent_message", "agent_delta", "clarify", "confirmation_required", "status", "menu",
]);

translatePage();

const ui = {
  log: $("#log"),
  scroller: $("#scroller"),
  streaming: $("#streaming"),
  notice: $("#notice"),
  form: $("#composer"),
  input: $("#text"),
  send: $("#send"),
  connection: $("#connection"),
  connectionText: $("#connection-text"),
  connectionLive: $("#connection-live"),
  reconnect: $("#reconnect"),
  restart: $("#restart"),
  withdrawBar: $("#withdraw-bar"),
  withdraw: $("#withdraw"),
};
const timeline = new Timeline($("#timeline"), $("#state-line"));
const follow = stickToBottom(ui.scroller);

const chat = {
  session: null,
  socket: null,
  lastSeq: 0,
  early: new Map(), // frames that arrived ahead of a missing seq
  gapTimer: null,
  state: null,
  conn: "connecting",
  connections: 0, // sockets opened so far
  attempts: 0,
  retryTimer: null,
  countdownTimer: null,
  held: false, // a test hook keeps the socket down until resumeSocket()
  block: null, // the interactive element the shopper can answer now
  card: null, // the latest confirmation card
  composing: false,
  withdrawing: false, // a withdrawal was sent and not yet answered
};

// ---- the log ------------------------------------------------------------------------------

/** Adds to the log; entries drawn from a session frame carry its seq. */
function append(node, seq) {
  ui.log.append(el("li", { class: "entry", "data-seq": seq }, node));
  follow();
  return node;
}

function say(role, text, seq) {
  const label = role === "shopper" ? t("you") : t("agent");
  const node = el("p", { class: `msg ${role}` },
    el("span", { class: "visually-hidden", text: `${label}: ` }), text);
  return append(tagLanguage(node, text), seq);
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

// ---- answering --------------------------------------------------------------------------

function activate(block) {
  if (chat.block && chat.block !== block) chat.block.setEnabled(false);
  chat.block = block;
  keepFocus(block.node);
}

function send(frame) {
  if (chat.socket?.readyState !== WebSocket.OPEN) {
    showError("", t("notConnected"));
    return false;
  }
  chat.socket.send(JSON.stringify(frame));
  return true;
}

function sendText(text, shown = text) {
  if (!send({ type: "user_message", text })) return false;
  say("shopper", shown);
  return true;
}

ui.input.addEventListener("compositionstart", () => (chat.composing = true));
ui.input.addEventListener("compositionend", () => (chat.composing = false));
ui.form.addEventListener("submit", (e) => {
  e.preventDefault();
  if (chat.composing) return; // Enter that finishes an IME composition is not a send
  const text = ui.input.value.trim();
  if (!text) return;
  if (sendText(text)) ui.input.value = "";
});

// ---- frames -------------------------------------------------------------------------------

function receive(frame) {
  if (frame.type === "pong") return;
  if (frame.type === "error") {
    onError(frame);
    return;
  }
  if (!SESSION_FRAMES.has(frame.type) || !Number.isInteger(frame.seq)) return;
  if (frame.seq <= chat.lastSeq || chat.early.has(frame.seq)) return; // seen already
  chat.early.set(frame.seq, frame);
  while (chat.early.has(chat.lastSeq + 1)) {
    const next = chat.early.get(chat.lastSeq + 1);
    chat.early.delete(chat.lastSeq + 1);
    chat.lastSeq += 1;
    apply(next);
  }
  watchGap();
}

/** Asks for a replay when a hole in the seq numbers does not fill by itself. */
function watchGap() {
  clearTimeout(chat.gapTimer);
  if (chat.early.size === 0) return;
  chat.gapTimer = setTimeout(() => {
    if (chat.early.size > 0) send({ type: "resume", last_seq: chat.lastSeq });
  }, GAP_PATIENCE_MS);
}

function apply(frame) {
  // Whatever follows a stream of pieces says it in full: a message, a question, a card.
  if (frame.type !== "agent_delta") {
    ui.streaming.textContent = "";
    ui.streaming.hidden = true;
  }
  switch (frame.type) {
    case "agent_delta":
      ui.streaming.textContent += frame.text;
      ui.streaming.hidden = false;
      follow();
      break;
    case "agent_message":
      say("agent", frame.text, frame.seq);
      break;
    case "clarify": {
      const block = answerBlock(frame.question, frame.candidates || [], {
        group: "answerLabel",
        onPick: (c) => sendText(c.id, c.label),
      });
      append(block.node, frame.seq);
      activate(block);
      break;
    }
    case "menu": {
      const block = answerBlock(frame.prompt, frame.options || [], {
        accepts_value: frame.accepts_value === true,
        group: "optionsLabel",
        onPick: (o) => {
          if (!send({ type: "menu_select", option_id: o.id })) return false;
          say("shopper", o.label);
          return true;
        },
        onValue: (value) => {
          if (!send({ type: "menu_select", option_id: "custom", value })) return false;
          say("shopper", value);
          return true;
        },
      });
      append(block.node, frame.seq);
      activate(block);
      break;
    }
    case "confirmation_required": {
      if (chat.card && chat.card.state === "open") chat.card.set("replaced");
      const card = confirmationCard(frame, {
        onConfirm: (token) => {
          if (!send({ type: "confirm", token })) card.set("open");
        },
        onCancel: () => send({ type: "cancel" }),
      });
      chat.card = card;
      append(card.node, frame.seq);
      activate({
        node: card.node.querySelector(".summary"),
        setEnabled: (on) => !on && card.state === "open" && card.set("replaced"),
      });
      break;
    }
    case "status":
      onStatus(frame.state, frame.reason);
      break;
  }
}

function onStatus(state, reason) {
  chat.state = state;
  timeline.update(state, reason);
  const card = chat.card;
  if (card && (card.state === "open" || card.state === "sending")) {
    if (state === "cancelled") card.set("cancelled");
    else if (state === "expired") card.set("expired");
    else if (state === "collecting" || state === "clarifying") card.set("replaced");
    else if (!OPEN.has(state)) card.set("confirmed");
  }
  refreshComposer();
  refreshWithdraw();
  if (!OPEN.has(state) && chat.block) chat.block.setEnabled(false);
  // The socket stays open: a closing sentence may still follow a terminal status.
  if (TERMINAL.has(state)) ui.restart.hidden = false;
}

/** The composer works while the session takes messages and the socket is up. */
function refreshComposer() {
  const open = OPEN.has(chat.state ?? "collecting");
  ui.input.disabled = !open || !chat.session;
  ui.send.disabled = !open || chat.conn !== "online";
}

/** While the payment is held (risk check, review) the shopper may withdraw their consent. */
function refreshWithdraw() {
  const held = HELD.has(chat.state);
  ui.withdrawBar.hidden = !held;
  ui.withdraw.disabled = !held || chat.conn !== "online" || chat.withdrawing;
}

ui.withdraw.addEventListener("click", () => {
  if (!send({ type: "cancel" })) return;
  chat.withdrawing = true;
  refreshWithdraw();
});

function onError(frame) {
  showError(frame.code, frame.message);
  if (chat.withdrawing) {
    // Too late (the payment is on its way) or refused: the page says why and moves on.
    chat.withdrawing = false;
    refreshWithdraw();
  }
  // The step the shopper just took did not happen: let them try again.
  if (chat.card?.state === "sending" && chat.state === "awaiting_confirmation") chat.card.set("open");
  else if (chat.block?.answered && OPEN.has(chat.state)) chat.block.reopen();
}

// ---- the socket -------------------------------------------------------------------------

/** What a screen reader hears when the connection changes (not the ticking countdown). */
/** The close code of a socket a newer one on the same session replaced. */
const REPLACED = 4001;
const ANNOUNCED = { online: "online", offline: "offlineHeld", closed: "closed" };

function setConnection(kind, text) {
  if (kind !== chat.conn && ANNOUNCED[kind]) ui.connectionLive.textContent = t(ANNOUNCED[kind]);
  ui.connection.dataset.conn = kind;
  ui.connectionText.textContent = text;
  ui.reconnect.hidden = kind !== "offline";
  chat.conn = kind;
  refreshComposer();
  refreshWithdraw();
}

function socketUrl() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const { session_id, client_token } = chat.session;
  return `${scheme}://${location.host}/v1/sessions/${encodeURIComponent(session_id)}/ws` +
    `?token=${encodeURIComponent(client_token)}`;
}

function connect() {
  clearTimeout(chat.retryTimer);
  clearInterval(chat.countdownTimer);
  if (TERMINAL.has(chat.state)) return;
  setConnection("connecting", t("connecting"));
  const socket = new WebSocket(socketUrl());
  chat.socket = socket;
  socket.addEventListener("open", () => {
    if (chat.socket !== socket) return;
    chat.connections += 1;
    setConnection("online", t("online"));
    // Always ask for what this page has not seen: frames stored before the socket existed
    // (the greeting) or while it was down.
    socket.send(JSON.stringify({ type: "resume", last_seq: chat.lastSeq }));
  });
  socket.addEventListener("message", (event) => {
    if (chat.socket !== socket) return;
    chat.attempts = 0;
    let frame;
    try {
      frame = JSON.parse(event.data);
    } catch {
      return;
    }
    receive(frame);
  });
  socket.addEventListener("close", (event) => {
    if (chat.socket !== socket) return;
    chat.socket = null;
    if (TERMINAL.has(chat.state)) {
      setConnection("closed", t("closed"));
      return;
    }
    if (event.code === REPLACED) {
      // A newer window took this conversation: reconnecting by itself would take it back.
      chat.held = true;
      setConnection("offline", t("openElsewhere"));
      return;
    }
    scheduleReconnect();
  });
}

function scheduleReconnect() {
  if (chat.held) {
    setConnection("offline", t("offlineHeld"));
    return;
  }
  const exp = Math.min(BACKOFF_CAP_MS, BACKOFF_FIRST_MS * 2 ** chat.attempts);
  const delay = Math.round(exp / 2 + Math.random() * (exp / 2)); // jitter: many clients, one outage
  chat.attempts += 1;
  const due = Date.now() + delay;
  const show = () =>
    setConnection("offline", t("offline", { s: Math.max(1, Math.ceil((due - Date.now()) / 1000)) }));
  show();
  chat.countdownTimer = setInterval(show, 1000);
  chat.retryTimer = setTimeout(connect, delay);
}

ui.reconnect.addEventListener("click", () => {
  chat.held = false;
  chat.attempts = 0;
  connect();
});

// ---- start --------------------------------------------------------------------------------

async function start() {
  setConnection("connecting", t("connecting"));
  const handed = sessionFromAddress();
  if (handed) {
    chat.session = handed;
  } else {
    const opened = await api("POST", "/v1/demo/sessions", { body: { channel: "chat", lang } });
    if (opened.status === 404) {
      setConnection("unavailable", "");
      showNotice(t("noDemo"));
      return;
    }
    if (!opened.ok) {
      setConnection("unavailable", "");
      showNotice(t("startFailed", { m: opened.body.error.message }));
      return;
    }
    chat.session = opened.body;
  }
  document.body.dataset.session = chat.session.session_id;
  connect();
  ui.input.focus();
}

ui.restart.addEventListener("click", () => location.assign(location.pathname + location.search));

/** Hooks for the browser tests and for trying the reconnect path by hand. */
window.__countersign = {
  session: () => chat.session && { ...chat.session },
  lastSeq: () => chat.lastSeq,
  state: () => chat.state,
  connections: () => chat.connections,
  /** Drops the socket as a network failure would; `{hold: true}` keeps it down until
   *  resumeSocket(). */
  dropSocket({ hold = false } = {}) {
    chat.held = hold;
    chat.socket?.close(4000, "dropped on purpose");
  },
  resumeSocket() {
    chat.held = false;
    chat.attempts = 0;
    connect();
  },
  /** Asks the server for every frame again; the page must show each one once. */
  replayAll: () => send({ type: "resume", last_seq: 0 }),
};

start();
