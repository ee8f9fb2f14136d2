// Shared by the chat, menu, countersign and operator pages: DOM building, the page's language, HTTP
// calls, the server clock, the confirmation card and the status timeline.
//
// Server text is only ever set as text (never as HTML), and money is only ever shown as the
// decimal string the server sent: nothing here does arithmetic on amounts.

/** Builds an element. `attrs`: class, text, data-*, aria-*, on<event> handlers, and any
 *  other attribute; children: nodes or strings (strings become text nodes). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on") && typeof value === "function") {
      node.addEventListener(key.slice(2), value);
    } else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export const $ = (selector, root = document) => root.querySelector(selector);

/**
 * Moves focus into `container` (its first usable control, else the container itself) when
 * the control that had focus went away: disabled by an answer, or replaced. Focus the
 * user placed elsewhere, such as the message box, stays where it is.
 */
export function keepFocus(container) {
  const active = document.activeElement;
  const lost = !active || active === document.body || active.disabled || !active.isConnected;
  if (!lost || !container) return;
  const control = container.querySelector("button:not(:disabled), input:not(:disabled)");
  (control || container).focus();
}

const HAN = /\p{Script=Han}/u;

/** Marks text written in Chinese so it gets Chinese fonts and is read out correctly. */
export function tagLanguage(node, text) {
  if (HAN.test(text)) node.setAttribute("lang", "zh-CN");
  return node;
}

// ---- the page's own words ----------------------------------------------------------------

const WORDS = {
  en: {
    nav: "Pages",
    navChat: "Chat",
    navMenu: "Menu",
    navOperator: "Reviews",
    connecting: "Connecting…",
    online: "Connected",
    offline: "Connection lost. Reconnecting in {s} s…",
    offlineHeld: "Connection lost.",
    openElsewhere: "This conversation is open in another window.",
    reconnectNow: "Reconnect now",
    closed: "Conversation closed",
    loading: "Loading…",
    noDemo:
      "This server has no demo shopper (it only exists on a fresh embedded database). " +
      "Open a session with the merchant API (POST /v1/sessions) and add " +
      "#session=ID&token=CLIENT_TOKEN to this page's address.",
    startFailed: "Could not start a conversation: {m}",
    startOver: "Start a new conversation",
    you: "You",
    agent: "Agent",
    messageLabel: "Message",
    messagePlaceholder: "Type a message, e.g. “refund order 1042, it arrived broken”",
    send: "Send",
    notConnected: "Not connected yet; wait a moment and try again.",
    answerLabel: "Answers",
    optionsLabel: "Options",
    amountLabel: "Other amount",
    amountHint: "e.g. 12.50",
    useAmount: "Use this amount",
    confirmTitle: "Please check and confirm",
    confirmLead: "Nothing moves until you confirm this exactly:",
    amount: "Amount",
    order: "Order",
    contact: "To",
    refund: "Refund",
    transfer: "Transfer",
    expiresIn: "Expires in {t}",
    expired: "Expired — nothing was moved",
    confirm: "Confirm",
    cancel: "Cancel",
    sending: "Sending…",
    confirmed: "Confirmed",
    cancelled: "Cancelled — nothing was moved",
    replaced: "Replaced — this proposal no longer applies",
    errorLabel: "Error",
    statusLabel: "Progress",
    stateNow: "Status: {s}",
    step_awaiting_confirmation: "Your confirmation",
    step_pending_risk_check: "Risk check",
    step_manual_review: "In review",
    step_submitted: "Sent to the payment provider",
    step_settled: "Settled — the money moved",
    step_failed: "Failed — nothing was moved",
    step_declined: "Not completed",
    step_cancelled: "Cancelled",
    step_expired: "Expired",
    step_outcome: "Settled",
    state_collecting: "In conversation",
    state_clarifying: "Answering a question",
    state_awaiting_confirmation: "Waiting for your confirmation",
    state_pending_risk_check: "Confirmed; checking",
    state_manual_review: "In review",
    state_submitted: "Sent to the payment provider",
    state_settled: "Settled",
    state_failed: "Failed",
    state_declined: "Not completed",
    state_cancelled: "Cancelled",
    state_expired: "Expired",
    reason_confirmation_tampered: "the confirmation was altered",
    reason_confirmation_expired: "the confirmation expired",
    reason_shopper_cancelled: "you cancelled",
    reason_withdrawn: "you withdrew your consent",
    withdraw: "Withdraw my consent",
    withdrawHint: "Until it is sent to the payment provider, you can still take your consent back.",
    reason_settlement_failed: "the payment provider could not complete it",
    final_settled: "Done: the money has moved.",
    final_failed: "The payment provider could not complete this. Nothing was moved.",
    final_declined: "We could not complete this request.",
    final_cancelled: "Cancelled. Nothing was moved.",
    final_expired: "The confirmation expired, so nothing was moved.",
    waiting_after_confirm: "Confirmed. This page updates by itself.",
    menuIntro: "This page works without a live connection: each choice is one request.",
    countersignIntro: "An assistant proposed this on your behalf. Nothing moves unless you confirm it here.",
    linkMissing: "This page needs the link the assistant gave you.",
    linkUnknown: "This link is not valid, or has expired.",
  },
  zh: {
    nav: "页面",
    navChat: "聊天",
    navMenu: "菜单",
    navOperator: "审核",
    connecting: "正在连接…",
    online: "已连接",
    offline: "连接已断开，{s} 秒后重连…",
    offlineHeld: "连接已断开。",
    openElsewhere: "此会话已在另一个窗口打开。",
    reconnectNow: "立即重连",
    closed: "会话已结束",
    loading: "加载中…",
    noDemo:
      "此服务器没有演示顾客（仅在全新的内置数据库上存在）。" +
      "请通过商户 API（POST /v1/sessions）创建会话，并在本页地址后加上 " +
      "#session=ID&token=CLIENT_TOKEN。",
    startFailed: "无法开始对话：{m}",
    startOver: "开始新的对话",
    you: "您",
    agent: "助手",
    messageLabel: "消息",
    messagePlaceholder: "输入消息，例如“退款订单 1042”",
    send: "发送",
    notConnected: "尚未连接，请稍后再试。",
    answerLabel: "可选答案",
    optionsLabel: "选项",
    amountLabel: "其他金额",
    amountHint: "例如 12.50",
    useAmount: "使用此金额",
    confirmTitle: "请核对并确认",
    confirmLead: "在您确认以下内容之前，不会有任何资金变动：",
    amount: "金额",
    order: "订单",
    contact: "收款人",
    refund: "退款",
    transfer: "转账",
    expiresIn: "{t} 后过期",
    expired: "已过期，未进行任何操作",
    confirm: "确认",
    cancel: "取消",
    sending: "正在发送…",
    confirmed: "已确认",
    cancelled: "已取消，未进行任何操作",
    replaced: "已被新的提议取代",
    errorLabel: "错误",
    statusLabel: "进度",
    stateNow: "状态：{s}",
    step_awaiting_confirmation: "您的确认",
    step_pending_risk_check: "风险检查",
    step_manual_review: "人工审核中",
    step_submitted: "已提交支付机构",
    step_settled: "已完成，资金已到账",
    step_failed: "失败，未进行任何操作",
    step_declined: "未能完成",
    step_cancelled: "已取消",
    step_expired: "已过期",
    step_outcome: "完成",
    state_collecting: "对话中",
    state_clarifying: "等待您的回答",
    state_awaiting_confirmation: "等待您的确认",
    state_pending_risk_check: "已确认，检查中",
    state_manual_review: "人工审核中",
    state_submitted: "已提交支付机构",
    state_settled: "已完成",
    state_failed: "失败",
    state_declined: "未能完成",
    state_cancelled: "已取消",
    state_expired: "已过期",
    reason_confirmation_tampered: "确认信息被篡改",
    reason_confirmation_expired: "确认已过期",
    reason_shopper_cancelled: "您已取消",
    reason_withdrawn: "您已撤回授权",
    withdraw: "撤回授权",
    withdrawHint: "在提交给支付机构之前，您仍可撤回授权。",
    reason_settlement_failed: "支付机构未能完成",
    final_settled: "已完成：资金已到账。",
    final_failed: "支付机构未能完成此操作，未进行任何资金变动。",
    final_declined: "我们无法完成此请求。",
    final_cancelled: "已取消，未进行任何操作。",
    final_expired: "确认已过期，未进行任何操作。",
    waiting_after_confirm: "已确认。本页会自动更新。",
    menuIntro: "本页无需保持连接：每次选择都是一次请求。",
    countersignIntro: "助手代您提出了以下请求。只有您在此确认，资金才会变动。",
    linkMissing: "请使用助手给您的链接打开本页。",
    linkUnknown: "此链接无效或已过期。",
  },
};

function pickLanguage() {
  const asked = new URLSearchParams(location.search).get("lang");
  if (asked && WORDS[asked]) return asked;
  const preferred = navigator.languages?.length ? navigator.languages : [navigator.language];
  for (const tag of preferred) {
    const base = String(tag || "").toLowerCase().split("-")[0];
    if (WORDS[base]) return base;
  }
  return "en";
}

export const lang = pickLanguage();

/** Adds a page's own words (`{en: {...}, zh: {...}}`) to the shared dictionary. */
export function addWords(extra) {
  for (const [language, words] of Object.entries(extra)) Object.assign(WORDS[language], words);
}

/** The page's own text for `key`, with `{name}` filled from `vars`. */
export function t(key, vars = {}) {
  const text = WORDS[lang][key] ?? WORDS.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(vars[name] ?? ""));
}

/** Fills every element marked `data-t="key"` (text) or `data-t-placeholder` / `data-t-label`. */
export function translatePage() {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  for (const node of document.querySelectorAll("[data-t]")) node.textContent = t(node.dataset.t);
  for (const node of document.querySelectorAll("[data-t-placeholder]")) {
    node.placeholder = t(node.dataset.tPlaceholder);
  }
  for (const node of document.querySelectorAll("[data-t-label]")) {
    node.setAttribute("aria-label", t(node.dataset.tLabel));
  }
  const title = document.querySelector("title[data-t]");
  if (title) document.title = t(title.dataset.t);
}

// ---- time and HTTP ------------------------------------------------------------------------

/** The server's clock, learnt from the Date header of its responses, so a confirmation's
 *  countdown is right even when this device's clock is off. */
export const serverClock = {
  offset: 0,
  now() {
    return Date.now() / 1000 + this.offset;
  },
  learn(response) {
    const date = Date.parse(response.headers.get("date") || "");
    if (Number.isNaN(date)) return;
    const offset = (date - Date.now()) / 1000;
    // The header has one-second resolution: only a real difference is worth correcting.
    this.offset = Math.abs(offset) > 2 ? offset : 0;
  },
};

/** Calls the API. Resolves to {ok, status, body}; a network failure is status 0 with an
 *  error body shaped like the server's. */
export async function api(method, path, { bearer, body } = {}) {
  const headers = { Accept: "application/json" };
  if (bearer) headers.Authorization = `Bearer ${bearer}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
      credentials: "omit",
    });
  } catch (e) {
    return {
      ok: false,
      status: 0,
      body: { error: { code: "network", message: String(e.message || e) } },
    };
  }
  serverClock.learn(response);
  let parsed = null;
  try {
    parsed = await response.json();
  } catch {
    parsed = null;
  }
  if (!response.ok && !parsed?.error) {
    parsed = { error: { code: `http_${response.status}`, message: response.statusText } };
  }
  return { ok: response.ok, status: response.status, body: parsed };
}

/** A session handed over in the address (`#session=ID&token=TOKEN`), removed from the
 *  address bar once read so it does not linger in history. */
export function sessionFromAddress() {
  const params = new URLSearchParams(location.hash.slice(1));
  const id = params.get("session");
  const token = params.get("token");
  if (!id || !token) return null;
  history.replaceState(null, "", location.pathname + location.search);
  return { session_id: id, client_token: token };
}

export const TERMINAL = new Set(["settled", "failed", "declined", "cancelled", "expired"]);
/** States in which consent was given but the payment is held: it may still be withdrawn. */
export const HELD = new Set(["pending_risk_check", "manual_review"]);
/** States in which the shopper may still talk or choose. */
export const OPEN = new Set(["collecting", "clarifying", "awaiting_confirmation"]);

/** The sentence to show for a status, with its reason when one is given (never for a
 *  decline: the shopper is not told why). */
export function describeState(state, reason) {
  const name = t(`state_${state}`);
  if (!reason || state === "declined") return name;
  const why = WORDS[lang][`reason_${reason}`] ?? WORDS.en[`reason_${reason}`];
  return why ? `${name} (${why})` : name;
}

let blockCount = 0;

/**
 * A prompt with buttons (and, when `accepts_value`, an amount field) the shopper answers
 * with. `onPick(option)` / `onValue(text)` return whether the answer was sent; a sent answer
 * locks the block until `reopen()` (after an error) or for good.
 */
export function answerBlock(prompt, options, { accepts_value = false, group, onPick, onValue }) {
  const buttons = options.map((o) =>
    tagLanguage(el("button", { type: "button", class: "choice", "data-id": o.id, text: o.label }), o.label));
  const controls = [];
  const node = el("div", { class: "answer" });
  if (prompt) {
    node.append(tagLanguage(el("p", { class: "msg agent" },
      el("span", { class: "visually-hidden", text: `${t("agent")}: ` }), prompt), prompt));
  }
  const list = el("div", { class: "choices", role: "group", "aria-label": prompt || t(group) }, buttons);
  node.append(list);
  controls.push(...buttons);
  let amountForm = null;
  if (accepts_value) {
    const id = `amount-${++blockCount}`;
    const input = el("input", {
      id, type: "text", inputmode: "decimal", autocomplete: "off",
      placeholder: t("amountHint"), maxlength: "32", required: true,
    });
    const submit = el("button", { type: "submit", class: "secondary", text: t("useAmount") });
    amountForm = el("form", { class: "amount-form" },
      el("label", { for: id, text: t("amountLabel") }), input, submit);
    amountForm.addEventListener("submit", (e) => {
      e.preventDefault();
      const value = input.value.trim();
      if (!value || block.answered) return;
      if (onValue(value)) block.answer(null, value);
    });
    controls.push(input, submit);
    node.append(amountForm);
  }
  const block = {
    node,
    answered: false,
    setEnabled(on) {
      for (const c of controls) c.disabled = !on;
    },
    answer(button) {
      block.answered = true;
      block.setEnabled(false);
      if (button) button.setAttribute("aria-pressed", "true");
    },
    reopen() {
      block.answered = false;
      for (const b of buttons) b.removeAttribute("aria-pressed");
      block.setEnabled(true);
    },
  };
  buttons.forEach((button, i) => {
    button.addEventListener("click", () => {
      if (block.answered) return;
      if (onPick(options[i])) block.answer(button);
    });
  });
  return block;
}

// ---- the confirmation card ------------------------------------------------------------------

function formatRemaining(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

let cardCount = 0;

/**
 * The card that asks the shopper to countersign. Shows `payload.summary` exactly as sent,
 * the amount and currency as sent, and a live countdown to `expires_at`.
 * `onConfirm(token)` / `onCancel()` are called on the buttons; `set(state)` moves the card to
 * open | sending | confirmed | cancelled | replaced | expired. `onExpire()`, when given, is
 * called once the countdown runs out (the server moves the session to `expired` soon after).
 */
export function confirmationCard(frame, { onConfirm, onCancel, onExpire }) {
  const id = `card-${++cardCount}`;
  const { payload, token } = frame;
  const action = payload.action || {};
  const amount = action.amount || {};
  const target =
    action.kind === "transfer"
      ? [t("contact"), action.contact_id]
      : [t("order"), action.order_id];

  // Focusable, so focus lands on what is being agreed to rather than on Confirm itself.
  const summary = el("p", {
    class: "summary",
    id: `${id}-summary`,
    tabindex: "-1",
    text: payload.summary,
  });
  tagLanguage(summary, payload.summary);
  const countdown = el("p", { class: "countdown", role: "timer", "aria-atomic": "true" });
  const note = el("p", { class: "card-note", "aria-live": "polite", tabindex: "-1" });
  const confirmButton = el("button", {
    type: "button",
    class: "primary",
    "data-action": "confirm",
    "aria-describedby": `${id}-summary`,
    text: t("confirm"),
  });
  const cancelButton = el("button", {
    type: "button",
    class: "secondary",
    "data-action": "cancel",
    text: t("cancel"),
  });
  const node = el(
    "section",
    { class: "card confirmation", "aria-labelledby": `${id}-title`, "data-state": "open" },
    el("h2", { id: `${id}-title`, text: t("confirmTitle") }),
    el("p", { class: "lead", text: t("confirmLead") }),
    summary,
    el(
      "dl",
      { class: "facts" },
      el("div", {}, el("dt", { text: t("amount") }),
        el("dd", { class: "amount" },
          el("span", { class: "amount-value", text: amount.value }),
          " ",
          el("span", { class: "amount-currency", text: amount.currency }))),
      target[1]
        ? el("div", {}, el("dt", { text: target[0] }), el("dd", { class: "target", text: target[1] }))
        : null,
    ),
    countdown,
    el("div", { class: "actions" }, confirmButton, cancelButton),
    note,
  );

  let state = "open";
  let timer = null;
  const stopTimer = () => {
    if (timer !== null) clearInterval(timer);
    timer = null;
  };
  const tick = () => {
    const left = frame.expires_at - serverClock.now();
    if (left <= 0) {
      set("expired");
      onExpire?.();
      return;
    }
    countdown.textContent = t("expiresIn", { t: formatRemaining(left) });
  };

  function set(next) {
    state = next;
    node.dataset.state = next;
    const live = next === "open" || next === "sending";
    confirmButton.disabled = next !== "open";
    cancelButton.disabled = !live;
    if (!live) stopTimer();
    const notes = {
      sending: t("sending"),
      confirmed: t("confirmed"),
      cancelled: t("cancelled"),
      replaced: t("replaced"),
      expired: t("expired"),
    };
    note.textContent = notes[next] || "";
    // A pressed Confirm or Cancel is disabled now; the note says what became of it.
    if (!live || next === "sending") keepFocus(note);
    if (next === "expired") countdown.textContent = t("expired");
    else if (!live) countdown.textContent = "";
  }

  confirmButton.addEventListener("click", () => {
    if (state !== "open") return;
    set("sending");
    onConfirm(token);
  });
  cancelButton.addEventListener("click", () => {
    if (state !== "open" && state !== "sending") return;
    onCancel();
  });

  tick();
  if (state === "open") timer = setInterval(tick, 1000);
  return {
    node,
    token,
    set,
    get state() {
      return state;
    },
  };
}

// ---- the status timeline --------------------------------------------------------------------

/**
 * The path a countersigned request takes: your confirmation → risk check → (review) →
 * submitted → outcome. Steps that must have happened are shown as done even when this page
 * did not see them (a page that polls may skip a state).
 */
export class Timeline {
  constructor(list, stateLine) {
    this.list = list;
    this.stateLine = stateLine;
    this.state = null;
    this.reviewed = false;
    this.render();
  }

  update(state, reason) {
    if (!state || (state === this.state && !reason)) return;
    if (state === "manual_review") this.reviewed = true;
    this.state = state;
    this.render();
    if (this.stateLine) this.stateLine.textContent = t("stateNow", { s: describeState(state, reason) });
  }

  steps() {
    const s = this.state;
    const reached = (...states) => states.includes(s);
    const confirmedStates = ["pending_risk_check", "manual_review", "submitted", "settled", "failed", "declined"];
    const confirmed = reached(...confirmedStates);
    const status = (done, current) => (current ? "current" : done ? "done" : "upcoming");
    const steps = [
      {
        state: "awaiting_confirmation",
        status: status(confirmed, s === "awaiting_confirmation"),
      },
    ];
    if (reached("cancelled", "expired")) {
      steps[0].status = "ended";
      steps.push({ state: s, status: "bad" });
      return steps;
    }
    steps.push({
      state: "pending_risk_check",
      status: status(reached("manual_review", "submitted", "settled", "failed", "declined"), s === "pending_risk_check"),
    });
    if (this.reviewed) {
      steps.push({
        state: "manual_review",
        status: status(reached("submitted", "settled", "failed", "declined"), s === "manual_review"),
      });
    }
    if (s === "declined") {
      steps.push({ state: "declined", status: "bad" });
      return steps;
    }
    steps.push({ state: "submitted", status: status(reached("settled", "failed"), s === "submitted") });
    if (reached("settled")) steps.push({ state: "settled", status: "done" });
    else if (reached("failed")) steps.push({ state: "failed", status: "bad" });
    else steps.push({ state: "outcome", status: "upcoming" });
    return steps;
  }

  render() {
    const items = this.steps().map(({ state, status }) =>
      el(
        "li",
        {
          "data-state": state,
          "data-status": status,
          "aria-current": status === "current" ? "step" : null,
        },
        el("span", { class: "dot", "aria-hidden": "true" }),
        el("span", { class: "label", text: t(`step_${state}`) }),
      ),
    );
    this.list.replaceChildren(...items);
  }
}

/** Keeps a scrolling container pinned to its end while the reader is already there. */
export function stickToBottom(container) {
  let pinned = true;
  container.addEventListener("scroll", () => {
    pinned = container.scrollHeight - container.scrollTop - container.clientHeight < 40;
  });
  return () => {
    if (pinned) container.scrollTop = container.scrollHeight;
  };
}
