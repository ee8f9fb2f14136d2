-- A shopper may withdraw consent while the payment is held (risk check, review): the
-- session ends `cancelled` with reason `withdrawn`.
ALTER TABLE sessions DROP CONSTRAINT sessions_reason_check;
ALTER TABLE sessions ADD CONSTRAINT sessions_reason_check CHECK (reason IN ('shopper_cancelled', 'confirmation_tampered', 'confirmation_expired', 'risk_declined', 'review_declined', 'settlement_failed', 'withdrawn'));

-- What the model reported beside what was asked for, and what the call cost: an exact
-- decimal in the currency's major unit (never a float), priced from the endpoint's
-- configured prices when the call was made; NULL when the endpoint has no prices.
ALTER TABLE model_calls ADD COLUMN reported_model TEXT;
ALTER TABLE model_calls ADD COLUMN system_fingerprint TEXT;
ALTER TABLE model_calls ADD COLUMN cost TEXT CHECK (cost ~ '^[0-9]{1,20}(\.[0-9]{1,12})?$');
ALTER TABLE model_calls ADD COLUMN cost_currency TEXT CHECK (cost_currency ~ '^[A-Z]{3}$');
ALTER TABLE model_calls ADD CONSTRAINT model_calls_cost_has_currency
    CHECK ((cost IS NULL) = (cost_currency IS NULL));
