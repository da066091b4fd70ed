//! `ctx.state`: JSON values by (group, key), scoped to a tenant and project.

use serde_json::Value;

use crate::{Result, Scope, Store};

impl Store {
    pub async fn state_get(&self, scope: &Scope, group: &str, key: &str) -> Result<Option<Value>> {
        Ok(sqlx::query_scalar(
            "SELECT value FROM state WHERE tenant_id = $1 AND project_id = $2 AND group_id = $3 AND key = $4",
        )
        .bind(&scope.tenant)
        .bind(&scope.project)
        .bind(group)
        .bind(key)
        .fetch_optional(&self.pool)
        .await?)
    }

    pub async fn state_set(&self, scope: &Scope, group: &str, key: &str, value: &Value) -> Result<()> {
        state_set_on(&self.pool, scope, group, key, value).await
    }

    pub async fn state_delete(&self, scope: &Scope, group: &str, key: &str) -> Result<Option<Value>> {
        state_delete_on(&self.pool, scope, group, key).await
    }
}

pub(crate) async fn state_set_on(
    ex: impl sqlx::PgExecutor<'_>,
    scope: &Scope,
    group: &str,
    key: &str,
    value: &Value,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO state (tenant_id, project_id, group_id, key, value) VALUES ($1, $2, $3, $4, $5::json)
             ON CONFLICT (tenant_id, project_id, group_id, key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()",
    )
    .bind(&scope.tenant)
    .bind(&scope.project)
    .bind(group)
    .bind(key)
    .bind(crate::json_text(value))
    .execute(ex)
    .await?;
    Ok(())
}

pub(crate) async fn state_delete_on(
    ex: impl sqlx::PgExecutor<'_>,
    scope: &Scope,
    group: &str,
    key: &str,
) -> Result<Option<Value>> {
    Ok(sqlx::query_scalar(
        "DELETE FROM state WHERE tenant_id = $1 AND project_id = $2 AND group_id = $3 AND key = $4
             RETURNING value",
    )
    .bind(&scope.tenant)
    .bind(&scope.project)
    .bind(group)
    .bind(key)
    .fetch_optional(ex)
    .await?)
}

impl Store {
    pub async fn state_group(&self, scope: &Scope, group: &str) -> Result<Vec<Value>> {
        Ok(sqlx::query_scalar(
            "SELECT value FROM state WHERE tenant_id = $1 AND project_id = $2 AND group_id = $3 ORDER BY key",
        )
        .bind(&scope.tenant)
        .bind(&scope.project)
        .bind(group)
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn state_clear(&self, scope: &Scope, group: &str) -> Result<u64> {
        let r = sqlx::query("DELETE FROM state WHERE tenant_id = $1 AND project_id = $2 AND group_id = $3")
            .bind(&scope.tenant)
            .bind(&scope.project)
            .bind(group)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected())
    }

    /// Keys and values of one group, in key order (diagnostics).
    pub async fn state_items(&self, scope: &Scope, group: &str) -> Result<Vec<(String, Value)>> {
        Ok(sqlx::query_as(
            "SELECT key, value FROM state WHERE tenant_id = $1 AND project_id = $2 AND group_id = $3
              ORDER BY key LIMIT 10000",
        )
        .bind(&scope.tenant)
        .bind(&scope.project)
        .bind(group)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Groups and their key counts (diagnostics).
    pub async fn state_groups(&self, scope: &Scope) -> Result<Vec<(String, i64)>> {
        Ok(sqlx::query_as(
            "SELECT group_id, count(*) FROM state WHERE tenant_id = $1 AND project_id = $2
              GROUP BY group_id ORDER BY group_id",
        )
        .bind(&scope.tenant)
        .bind(&scope.project)
        .fetch_all(&self.pool)
        .await?)
    }
}
