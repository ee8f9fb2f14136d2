//! The report: every miss, every policy-breaking card, then the figures.

use std::fmt::Write;

use super::corpus::{Card, Case, Expect};
use super::score::{Scored, Summary, Tally, percent};
use crate::domain::{Charge, Cost, Money};

/// The whole report as text; `seconds` is the run's wall time.
pub fn render(results: &[Scored], summary: &Summary, seconds: f64) -> String {
    let mut out = String::new();
    let misses: Vec<_> = results.iter().filter(|r| !r.exact).collect();
    if !misses.is_empty() {
        let _ = writeln!(out, "MISSES ({})", misses.len());
        for r in misses {
            miss(&mut out, r);
        }
        out.push('\n');
    }
    let breaking: Vec<_> = results.iter().filter(|r| !r.breaches.is_empty()).collect();
    if !breaking.is_empty() {
        let _ = writeln!(out, "POLICY-BREAKING CARDS ({})", breaking.len());
        for r in breaking {
            breach(&mut out, r);
        }
        out.push('\n');
    }
    figures(&mut out, summary, seconds);
    out
}

fn miss(out: &mut String, r: &Scored) {
    let case = &r.case;
    let note = case
        .note
        .as_deref()
        .map(|n| format!(" - {n}"))
        .unwrap_or_default();
    let _ = writeln!(out, "- {} ({}){note}", case.id, case.origin);
    let said: Vec<_> = case.messages.iter().map(|m| format!("{m:?}")).collect();
    let _ = writeln!(out, "  messages:   {}", said.join(" | "));
    let _ = writeln!(out, "  expected:   {}", expected(case));
    let got = match &r.outcome.card {
        Some(card) => describe(case, card),
        None => "no card".into(),
    };
    let _ = writeln!(
        out,
        "  got:        {got} after {} message(s)",
        r.outcome.turns
    );
    let reply = r.outcome.last_reply.as_deref().unwrap_or("(nothing)");
    let _ = writeln!(out, "  last reply: {reply:?}");
}

fn breach(out: &mut String, r: &Scored) {
    let case = &r.case;
    let kind = if case.hostile { "hostile" } else { "ordinary" };
    let card = r.outcome.card.as_ref().map(|c| describe(case, c));
    let _ = writeln!(
        out,
        "- {} ({}, {kind}): {}",
        case.id,
        case.origin,
        card.unwrap_or_default()
    );
    for why in &r.breaches {
        let _ = writeln!(out, "  {why}");
    }
}

fn expected(case: &Case) -> String {
    match &case.expect {
        Expect::Card(card) => describe(case, card),
        Expect::Refusal => "no card".into(),
    }
}

fn describe(case: &Case, card: &Card) -> String {
    let currency = case.policy.parse().map(|p| p.currency);
    let amount = currency
        .ok()
        .and_then(|c| Money::from_minor(card.amount_minor, c).ok())
        .map_or_else(
            || format!("{} minor units", card.amount_minor),
            |m| m.to_string(),
        );
    format!("{} {} {amount}", card.action.as_str(), card.target)
}

fn figures(out: &mut String, s: &Summary, seconds: f64) {
    let [(en, en_all), (zh, zh_all)] = s.by_lang;
    let _ = writeln!(
        out,
        "exact: {}/{} = {:.1}%  (en {en}/{en_all} = {:.1}%, zh {zh}/{zh_all} = {:.1}%)",
        s.exact,
        s.cases,
        s.exact_percent(),
        percent(en, en_all),
        percent(zh, zh_all)
    );
    let turns = if s.exact_cards == 0 {
        0.0
    } else {
        s.turns_to_exact_cards as f64 / s.exact_cards as f64
    };
    let _ = writeln!(
        out,
        "turns to card: {turns:.2} on average over {} exact cards",
        s.exact_cards
    );
    let expecting = s.action.right + s.action.wrong + s.action.missing;
    let _ = writeln!(
        out,
        "field    right  wrong  missing  (of {expecting} cases that expect a card)"
    );
    for (name, t) in [
        ("action", s.action),
        ("target", s.target),
        ("amount", s.amount),
    ] {
        row(out, name, t);
    }
    let _ = writeln!(
        out,
        "card expected: {} of {expecting} shown exactly ({:.1}%); no card expected: {} held, {} showed a card",
        s.exact_cards,
        percent(s.exact_cards, expecting),
        s.refusals_held,
        s.refusals_broken
    );
    let _ = writeln!(
        out,
        "hostile: {} of {} produced a policy-breaking card",
        s.hostile_breaking, s.hostile
    );
    let rate = if seconds > 0.0 {
        s.cases as f64 / seconds
    } else {
        0.0
    };
    let _ = writeln!(
        out,
        "speed: {} cases in {seconds:.1} s ({rate:.1} cases/s)",
        s.cases
    );
}

/// What the run's model calls cost in all, per card shown (a flow brought to consent) and
/// per case; exact decimals, each per-unit figure rounded down to 10⁻¹² of the currency.
pub fn cost(spent: &[Charge], s: &Summary) -> String {
    let cards = s.cards_shown;
    if spent.is_empty() {
        return "model cost: none (the offline reader, or endpoints without prices)\n".into();
    }
    let mut out = String::new();
    for c in spent {
        let each = |n: usize| Cost::from_picos(c.value.picos() / n.max(1) as i64);
        let per_card = if cards == 0 {
            "no card shown".to_owned()
        } else {
            format!("{} {} per card shown", each(cards), c.currency)
        };
        let _ = writeln!(
            out,
            "model cost: {} {} in all; {per_card} ({cards}); {} {} per case ({})",
            c.value,
            c.currency,
            each(s.cases),
            c.currency,
            s.cases
        );
    }
    out
}

fn row(out: &mut String, name: &str, t: Tally) {
    let _ = writeln!(
        out,
        "{name:<8} {:>5}  {:>5}  {:>7}",
        t.right, t.wrong, t.missing
    );
}
