//! What a call to an endpoint costs, from the prices in its configuration.

use super::EndpointConfig;
use super::call::Usage;
use crate::domain::{Cost, Currency, Price};

/// An endpoint's prices per thousand tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pricing {
    pub input: Price,
    pub output: Price,
    pub currency: Currency,
}

impl Pricing {
    /// The endpoint's prices; `None` when it names no currency (it is not priced). A price
    /// left out is zero.
    pub fn of(config: &EndpointConfig) -> Option<Pricing> {
        Some(Pricing {
            input: config.price_input_per_1k_tokens.unwrap_or_default(),
            output: config.price_output_per_1k_tokens.unwrap_or_default(),
            currency: config.price_currency?,
        })
    }

    /// What a call with `usage` cost; tokens not reported cost nothing. `None` only when
    /// the sum does not fit, which no real call reaches.
    pub fn cost(&self, usage: Usage) -> Option<Cost> {
        let input = self.input.per_1k_tokens(usage.prompt_tokens.unwrap_or(0))?;
        let output = self
            .output
            .per_1k_tokens(usage.completion_tokens.unwrap_or(0))?;
        input.checked_add(output)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_costs_its_prompt_and_its_completion_at_their_prices() {
        let pricing = Pricing {
            input: Price::parse("0.0008").unwrap(),
            output: Price::parse("0.002").unwrap(),
            currency: Currency::CNY,
        };
        let usage = Usage {
            prompt_tokens: Some(1500),
            completion_tokens: Some(250),
        };
        // 1.5 × 0.0008 + 0.25 × 0.002 = 0.0012 + 0.0005
        assert_eq!(pricing.cost(usage).unwrap().to_string(), "0.0017");
        assert_eq!(pricing.cost(Usage::default()), Some(Cost::ZERO));
    }
}
