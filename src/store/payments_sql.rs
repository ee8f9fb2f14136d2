//! The SQL of `Payments`, shared by both backends like `sql_store!`.

macro_rules! payments_sql {
    ($store:ty, $db:ty, skip_locked = $skip:literal) => {
        const COUNT_CAP: i64 = RiskStats::COUNT_CAP;
        const SUBMISSION_COLUMNS: &str = "idempotency_key, session_id, merchant_id, provider, action, currency, \
             amount_minor, state, attempts, next_attempt_at, provider_reference, last_error, created_at, updated_at";
        const SANDBOX_COLUMNS: &str =
            "idempotency_key, merchant_id, session_id, reference, currency, amount_minor, succeeds, requests, deliver_at";

        fn submission_row(r: &DbRow) -> Result<Submission> {
            let state_text: &str = r.try_get("state")?;
            Ok(Submission {
                idempotency_key: r.try_get("idempotency_key")?,
                session_id: session_id(r.try_get("session_id")?)?,
                merchant_id: merchant_id(r.try_get("merchant_id")?)?,
                provider: r.try_get("provider")?,
                action: r.try_get::<Json<serde_json::Value>, _>("action")?.0,
                amount: money(r.try_get("amount_minor")?, r.try_get("currency")?)?,
                state: SubmissionState::parse(state_text).ok_or_else(|| StoreError::Corrupt(state_text.into()))?,
                attempts: r.try_get("attempts")?,
                next_attempt_at: r.try_get("next_attempt_at")?,
                provider_reference: r.try_get("provider_reference")?,
                last_error: r.try_get("last_error")?,
                created_at: r.try_get("created_at")?,
                updated_at: r.try_get("updated_at")?,
            })
        }

        fn sandbox_row(r: &DbRow) -> Result<SandboxPayment> {
            Ok(SandboxPayment {
                idempotency_key: r.try_get("idempotency_key")?,
                merchant_id: merchant_id(r.try_get("merchant_id")?)?,
                session_id: session_id(r.try_get("session_id")?)?,
                reference: r.try_get("reference")?,
                amount: money(r.try_get("amount_minor")?, r.try_get("currency")?)?,
                succeeds: r.try_get("succeeds")?,
                requests: r.try_get("requests")?,
                deliver_at: r.try_get("deliver_at")?,
            })
        }

        #[async_trait]
        impl Payments for $store {
            async fn record_webhook(&self, e: &InboxEntry, then: Option<(SessionId, i64, &Commit)>) -> Result<bool> {
                let mut tx = self.write_tx().await?;
                let inserted = sqlx::query(
                    "INSERT INTO webhook_inbox (merchant_id, event_id, session_id, kind, idempotency_key, outcome, \
                     payload, received_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                     ON CONFLICT (merchant_id, event_id) DO NOTHING",
                )
                .bind(e.merchant_id.as_str())
                .bind(&e.event_id)
                .bind(&e.session_id)
                .bind(&e.kind)
                .bind(&e.idempotency_key)
                .bind(e.outcome)
                .bind(Json(&e.payload))
                .bind(e.received_at)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if inserted == 0 {
                    return Ok(false);
                }
                if let Some((id, expected, commit)) = then {
                    apply_in(&mut tx, self.origin(), id, expected, commit).await?;
                }
                tx.commit().await?;
                Ok(true)
            }

            async fn inbox_has(&self, merchant: &MerchantId, event_id: &str) -> Result<bool> {
                let row = sqlx::query("SELECT 1 FROM webhook_inbox WHERE merchant_id = $1 AND event_id = $2")
                    .bind(merchant.as_str())
                    .bind(event_id)
                    .fetch_optional(self.reads())
                    .await?;
                Ok(row.is_some())
            }

            async fn claim_submissions(&self, now: DateTime<Utc>, lease_until: DateTime<Utc>, limit: i64) -> Result<Vec<Submission>> {
                let mut tx = self.write_tx().await?;
                let sql = format!(
                    "UPDATE submissions SET locked_until = $2, attempts = attempts + 1, updated_at = $1 \
                     WHERE idempotency_key IN (SELECT idempotency_key FROM submissions WHERE state = 'pending' \
                     AND next_attempt_at <= $1 AND (locked_until IS NULL OR locked_until <= $1) \
                     ORDER BY next_attempt_at LIMIT $3{}) RETURNING {SUBMISSION_COLUMNS}",
                    $skip
                );
                let rows = sqlx::query(&sql).bind(now).bind(lease_until).bind(limit).fetch_all(&mut *tx).await?;
                tx.commit().await?;
                rows.iter().map(submission_row).collect()
            }

            async fn submission_sent(&self, key: &str, reference: &str, now: DateTime<Utc>) -> Result<()> {
                sqlx::query(
                    "UPDATE submissions SET state = 'sent', provider_reference = $2, locked_until = NULL, \
                     last_error = NULL, updated_at = $3 WHERE idempotency_key = $1 AND state = 'pending'",
                )
                .bind(key)
                .bind(reference)
                .bind(now)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn submission_retry(&self, key: &str, next_at: DateTime<Utc>, error: &str, now: DateTime<Utc>) -> Result<()> {
                sqlx::query(
                    "UPDATE submissions SET next_attempt_at = $2, last_error = $3, locked_until = NULL, \
                     updated_at = $4 WHERE idempotency_key = $1 AND state = 'pending'",
                )
                .bind(key)
                .bind(next_at)
                .bind(error)
                .bind(now)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn submission_dead(&self, key: &str, error: &str, now: DateTime<Utc>) -> Result<()> {
                sqlx::query(
                    "UPDATE submissions SET state = 'dead', last_error = $2, locked_until = NULL, updated_at = $3 \
                     WHERE idempotency_key = $1 AND state = 'pending'",
                )
                .bind(key)
                .bind(error)
                .bind(now)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn submission_for_session(&self, id: SessionId) -> Result<Option<Submission>> {
                let sql = format!("SELECT {SUBMISSION_COLUMNS} FROM submissions WHERE session_id = $1");
                let row = sqlx::query(&sql).bind(id.to_string()).fetch_optional(self.reads()).await?;
                row.as_ref().map(submission_row).transpose()
            }

            async fn submission_by_key(&self, key: &str) -> Result<Option<Submission>> {
                let sql = format!("SELECT {SUBMISSION_COLUMNS} FROM submissions WHERE idempotency_key = $1");
                let row = sqlx::query(&sql).bind(key).fetch_optional(self.reads()).await?;
                row.as_ref().map(submission_row).transpose()
            }

            async fn submissions(&self, merchant: &MerchantId, state: SubmissionState, limit: i64) -> Result<Vec<Submission>> {
                let sql = format!(
                    "SELECT {SUBMISSION_COLUMNS} FROM submissions WHERE merchant_id = $1 AND state = $2 \
                     ORDER BY updated_at LIMIT $3"
                );
                let rows = sqlx::query(&sql)
                    .bind(merchant.as_str())
                    .bind(state.as_str())
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(submission_row).collect()
            }

            async fn risk_stats(
                &self,
                merchant: &MerchantId,
                user: &UserId,
                device: Option<&str>,
                session: SessionId,
                shopper_since: DateTime<Utc>,
                merchant_since: DateTime<Utc>,
            ) -> Result<RiskStats> {
                // Counts stop at the rules' highest threshold: beyond it the answer is the same.
                let consents = "SELECT COUNT(*) FROM (SELECT 1 FROM sessions \
                     WHERE merchant_id = $1 AND consented_at >= $2";
                let shopper_sql = format!("{consents} AND user_id = $3 LIMIT {COUNT_CAP}) AS recent");
                let merchant_sql = format!("{consents} LIMIT {COUNT_CAP}) AS recent");
                let shopper_recent: i64 = sqlx::query_scalar(&shopper_sql)
                    .bind(merchant.as_str())
                    .bind(shopper_since)
                    .bind(user.as_str())
                    .fetch_one(self.reads())
                    .await?;
                let merchant_recent: i64 = sqlx::query_scalar(&merchant_sql)
                    .bind(merchant.as_str())
                    .bind(merchant_since)
                    .fetch_one(self.reads())
                    .await?;
                let earlier: Vec<Option<String>> = sqlx::query_scalar(
                    "SELECT device FROM sessions WHERE merchant_id = $1 AND user_id = $2 AND id <> $3 LIMIT 200",
                )
                .bind(merchant.as_str())
                .bind(user.as_str())
                .bind(session.to_string())
                .fetch_all(self.reads())
                .await?;
                let device_known = device.is_some_and(|d| earlier.iter().any(|e| e.as_deref() == Some(d)));
                Ok(RiskStats { shopper_recent, merchant_recent, device_known, returning: !earlier.is_empty() })
            }

            async fn sessions_in_state(&self, merchant: &MerchantId, state: crate::domain::SessionState, limit: i64) -> Result<Vec<Session>> {
                let sql = format!(
                    "SELECT {SESSION_COLUMNS} FROM sessions WHERE merchant_id = $1 AND state = $2 \
                     ORDER BY updated_at LIMIT $3"
                );
                let rows = sqlx::query(&sql)
                    .bind(merchant.as_str())
                    .bind(state.as_str())
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(session_row).collect()
            }

            async fn stalled(&self, state: crate::domain::SessionState, before: DateTime<Utc>, limit: i64) -> Result<Vec<SessionId>> {
                let rows: Vec<String> = sqlx::query_scalar(
                    "SELECT id FROM sessions WHERE state = $1 AND updated_at < $2 ORDER BY updated_at LIMIT $3",
                )
                .bind(state.as_str())
                .bind(before)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(|id| session_id(id)).collect()
            }

            async fn sessions_by_state(&self) -> Result<Vec<(crate::domain::SessionState, i64)>> {
                let rows: Vec<(String, i64)> = sqlx::query_as("SELECT state, COUNT(*) FROM sessions GROUP BY state")
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(|(s, n)| Ok((state(s)?, *n))).collect()
            }

            async fn outbox_stats(&self) -> Result<OutboxStats> {
                let (pending, dead): (i64, i64) = sqlx::query_as(
                    "SELECT COALESCE(SUM(CASE WHEN state = 'pending' THEN 1 ELSE 0 END), 0), \
                     COALESCE(SUM(CASE WHEN state = 'dead' THEN 1 ELSE 0 END), 0) FROM submissions",
                )
                .fetch_one(&self.pool)
                .await?;
                let oldest_pending: Option<DateTime<Utc>> = sqlx::query_scalar(
                    "SELECT created_at FROM submissions WHERE state = 'pending' ORDER BY created_at LIMIT 1",
                )
                .fetch_optional(&self.pool)
                .await?;
                Ok(OutboxStats { pending, dead, oldest_pending })
            }

            async fn sandbox_accept(&self, p: &SandboxPayment) -> Result<SandboxPayment> {
                let mut tx = self.write_tx().await?;
                let sql = format!(
                    "INSERT INTO sandbox_payments (idempotency_key, merchant_id, session_id, reference, currency, \
                     amount_minor, succeeds, requests, deliver_at, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8, $9) \
                     ON CONFLICT (idempotency_key) DO UPDATE SET requests = sandbox_payments.requests + 1 \
                     RETURNING {SANDBOX_COLUMNS}"
                );
                let row = sqlx::query(&sql)
                    .bind(&p.idempotency_key)
                    .bind(p.merchant_id.as_str())
                    .bind(p.session_id.to_string())
                    .bind(&p.reference)
                    .bind(p.amount.currency().code())
                    .bind(p.amount.minor())
                    .bind(p.succeeds)
                    .bind(p.deliver_at)
                    .bind(crate::clock::now())
                    .fetch_one(&mut *tx)
                    .await?;
                tx.commit().await?;
                sandbox_row(&row)
            }

            async fn sandbox_due(&self, now: DateTime<Utc>, limit: i64) -> Result<Vec<SandboxPayment>> {
                let sql = format!(
                    "SELECT {SANDBOX_COLUMNS} FROM sandbox_payments WHERE delivered_at IS NULL AND deliver_at <= $1 \
                     ORDER BY deliver_at LIMIT $2"
                );
                let rows = sqlx::query(&sql).bind(now).bind(limit).fetch_all(&self.pool).await?;
                rows.iter().map(sandbox_row).collect()
            }

            async fn sandbox_delivered(&self, key: &str, at: DateTime<Utc>) -> Result<()> {
                sqlx::query("UPDATE sandbox_payments SET delivered_at = $2 WHERE idempotency_key = $1")
                    .bind(key)
                    .bind(at)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn sandbox_postpone(&self, key: &str, at: DateTime<Utc>) -> Result<()> {
                sqlx::query("UPDATE sandbox_payments SET deliver_at = $2 WHERE idempotency_key = $1")
                    .bind(key)
                    .bind(at)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }
        }
    };
}
pub(super) use payments_sql;
